"""``python -m sim.validate FILE``: measured benchmark cases (:mod:`sim.fidelity.validate`) or, for a file with
the columns of measured frontier points, the simulated frontier against them (:mod:`sim.planning.frontier_points`).
``python -m sim.validate --ops [FILE]``: measured collectives and kernels predicted by the network layer and the
per-kernel model alone, no simulation (:mod:`sim.fidelity.operations`). ``python -m sim.validate --accuracy DIR``:
all three, written as the accuracy report (:mod:`sim.planning.accuracy`)."""

import sys

from sim.errors import run_command


def main(argv: list[str] | None = None) -> int:
    from sim.planning.frontier_points import is_frontier_points_file

    args = sys.argv[1:] if argv is None else argv
    if any(a == "--accuracy" or a.startswith("--accuracy=") for a in args):
        from sim.planning.accuracy import main as accuracy_main

        return accuracy_main(args)
    if "--ops" in args:
        from sim.fidelity.operations import main as operations_main

        return operations_main(args)
    path = next((a for a in args if not a.startswith("-")), None)
    if path is not None and is_frontier_points_file(path):
        from sim.planning.frontier_points import main as frontier_points_main

        return frontier_points_main(args)
    from sim.fidelity.validate import main as cases_main

    return cases_main(args)


if __name__ == "__main__":
    sys.exit(run_command(main))
