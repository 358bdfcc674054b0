"""``python -m sim.plan``: the command of :mod:`sim.planning.plan`."""

import sys

from sim.base.errors import run_command
from sim.planning.plan import main

if __name__ == "__main__":
    sys.exit(run_command(main))
