"""Which check ``python -m sim.validate`` runs, from its arguments.

* ``FILE`` of measured benchmark cases: :mod:`sim.fidelity.validate`;
* ``FILE`` with the columns of measured frontier points: the simulated frontier against them
  (:mod:`sim.planning.frontier_points`);
* ``--ops [FILE]``: measured collectives and kernels predicted by the network layer and the per-kernel model
  alone, no simulation (:mod:`sim.fidelity.operations`);
* ``--accuracy DIR``: all three, written as the accuracy report (:mod:`sim.planning.accuracy`).
"""

from __future__ import annotations


def main(args: list[str]) -> int:
    if any(a == "--accuracy" or a.startswith("--accuracy=") for a in args):
        from sim.planning.accuracy import main as accuracy_main

        return accuracy_main(args)
    if "--ops" in args:
        from sim.fidelity.operations import main as operations_main

        return operations_main(args)
    from sim.planning.frontier_points import is_frontier_points_file

    path = next((a for a in args if not a.startswith("-")), None)
    if path is not None and is_frontier_points_file(path):
        from sim.planning.frontier_points import main as frontier_points_main

        return frontier_points_main(args)
    from sim.fidelity.validate import main as cases_main

    return cases_main(args)
