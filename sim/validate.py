"""``python -m sim.validate``: benchmark cases, frontier points, ``--ops`` (collectives and kernels) or the
``--accuracy DIR`` report, by its arguments (:mod:`sim.planning.validation`)."""

import sys

from sim.base.errors import run_command


def main(argv: list[str] | None = None) -> int:
    from sim.planning.validation import main as validation_main

    return validation_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(run_command(main))
