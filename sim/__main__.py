from sim.run.cli import main

main()
