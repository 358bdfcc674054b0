"""``python -m sim.validate FILE``: measured benchmark cases (:mod:`sim.fidelity.validate`) or, for a file with
the columns of measured frontier points, the simulated frontier against them (:mod:`sim.planning.frontier_points`)."""

import sys

from sim.base.errors import run_command


def main(argv: list[str] | None = None) -> int:
    from sim.planning.frontier_points import is_frontier_points_file

    args = sys.argv[1:] if argv is None else argv
    path = next((a for a in args if not a.startswith("-")), None)
    if path is not None and is_frontier_points_file(path):
        from sim.planning.frontier_points import main as frontier_points_main

        return frontier_points_main(args)
    from sim.fidelity.validate import main as cases_main

    return cases_main(args)


if __name__ == "__main__":
    sys.exit(run_command(main))
