"""``python -m sim.bench``: the command of :mod:`sim.run.bench` (the simulator's own speed)."""

import sys

from sim.base.errors import run_command
from sim.run.bench import main

if __name__ == "__main__":
    sys.exit(run_command(main))
