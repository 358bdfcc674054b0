"""``python -m sim.report SWEEP_DIR``: the command of :mod:`sim.study.report` (a study's figures)."""

import sys

from sim.study.report import main

if __name__ == "__main__":
    sys.exit(main())
