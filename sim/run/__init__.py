"""One simulated run: ``simulate(config) -> Result``, and the command that writes it to a job folder.

``deployment`` builds the fleet in three steps (resolve the defaults, check, construct); ``simulation``
runs it on one clock; ``measurement`` finds the steady-state window and its intervals; ``metrics`` and
``breakdown`` summarise it; ``outputs`` and ``figures`` write it; ``uncertainty`` applies a study's row of
uncertain inputs to the run; ``job`` keeps a job folder's status; ``cli`` and ``guard`` are ``python -m
sim`` (the Hydra entry point) and the checks before Hydra runs; ``bench`` measures the simulator's speed.

May import: ``sim.serving`` and the layers below it.
"""
