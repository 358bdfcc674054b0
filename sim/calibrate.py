"""``python -m sim.calibrate``: the command of :mod:`sim.fidelity.calibrate` (with ``--points``, the frontier points
become cases through the planning layer's reference search, :mod:`sim.planning.point_cases`)."""

import sys

from sim.base.errors import run_command


def main(argv: list[str] | None = None) -> int:
    from sim.fidelity.calibrate import main as calibrate_main
    from sim.planning.point_cases import points_as_cases

    return calibrate_main(argv, points_as_cases)


if __name__ == "__main__":
    sys.exit(run_command(main))
