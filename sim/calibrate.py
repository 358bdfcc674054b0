"""``python -m sim.calibrate``: the command of :mod:`sim.fidelity.calibrate`."""

import sys

from sim.base.errors import run_command
from sim.fidelity.calibrate import main

if __name__ == "__main__":
    sys.exit(run_command(main))
