"""``python -m sim.validate``: the command of :mod:`sim.fidelity.validate`."""

import sys

from sim.errors import run_command
from sim.fidelity.validate import main

if __name__ == "__main__":
    sys.exit(run_command(main))
