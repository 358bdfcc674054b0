"""``python -m sim.waterfall``: the command of :mod:`sim.planning.waterfall`."""

import sys

from sim.base.errors import run_command
from sim.planning.waterfall import main

if __name__ == "__main__":
    sys.exit(run_command(main))
