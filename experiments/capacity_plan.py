"""The cheapest fleet for 50 requests/s of 1k/1k DeepSeek-R1 chat at p99 TTFT <= 2 s and p99 TPOT <= 50 ms,
over all nine platforms at their best precision (FP4 where the GPU has FP4 tensor cores, FP8 elsewhere).

One command around ``python -m sim.plan``: each platform's frontier gives its candidate layouts (the two
best aggregated and the two best disaggregated ones meeting the SLO's p99 limits in closed loop), each
candidate is sized in open loop (Poisson arrivals, three seeds, 99 % of requests within both limits), and
the fleets are ranked by cost per hour. Writes ``plan.csv`` and ``plan.png``/``.pdf``.

    .venv/bin/python experiments/capacity_plan.py [--out experiments/results/capacity_plan]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.base.errors import run_command
from sim.planning.plan import main as plan

ARGS = ["platform=all", "precision=best", "model=deepseek_r1", "workload=chat", "--rate", "50", "--ttft", "2", "--tpot", "0.05",
        "--attainment", "0.99", "--seeds", "3"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("experiments/results/capacity_plan"))
    parser.add_argument("--processes", type=int, default=None)
    args = parser.parse_args()
    extra = ["--processes", str(args.processes)] if args.processes else []
    return run_command(plan, [*ARGS, "--out", str(args.out), *extra])


if __name__ == "__main__":
    sys.exit(main())
