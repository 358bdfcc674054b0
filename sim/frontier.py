"""``python -m sim.frontier``: the command of :mod:`sim.planning.frontier`."""

import sys

from sim.base.errors import run_command
from sim.planning.frontier import main

if __name__ == "__main__":
    sys.exit(run_command(main))
