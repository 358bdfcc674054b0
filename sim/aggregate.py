"""``python -m sim.aggregate SWEEP_DIR``: the command of :mod:`sim.study.aggregate`."""

import sys

from sim.study.aggregate import main

if __name__ == "__main__":
    sys.exit(main())
