"""``python -m sim.sweep SWEEP_DIR``: the earlier name of ``python -m sim.aggregate`` (:mod:`sim.study.aggregate`)."""

import sys

from sim.study.aggregate import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m sim.sweep"))
