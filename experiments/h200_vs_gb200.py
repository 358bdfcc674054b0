"""H200 against GB200 NVL72 serving DeepSeek-R1 chat traffic at the same request rate.

Two 72-GPU fleets (nine HGX H200 systems at FP8, one GB200 NVL72 rack at FP4, both in
``conf/deployment/``) are offered the same requests at a rate the H200 fleet sustains. Prints the
headline metrics of both and saves the per-request cost distributions as a figure.

    .venv/bin/python experiments/h200_vs_gb200.py [--requests N] [--rate RPS] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sim.base.config import compose_config
from sim.run.simulation import simulate

DEPLOYMENTS = ("h200_fp8_x9", "gb200_nvl72_fp4")
KEYS = ("gpus", "tput_per_gpu_tok_s", "ttft_s_p99", "tpot_s_p50", "gpu_utilization", "power_kw", "cost_usd_per_hour",
        "cost_usd_per_mtok", "cost_usd_per_mtok_p50", "cost_usd_per_mtok_p90", "tok_s_per_mw_drawn")


def run(requests: int, rate_rps: float) -> dict[str, object]:
    return {
        name: simulate(
            compose_config(
                f"+deployment={name}", "workload=chat", "workload.load_fraction=null",
                f"workload.rate_rps={rate_rps}", f"workload.num_requests={requests}",
            )
        )
        for name in DEPLOYMENTS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=35.0, help="requests per second offered to both fleets")
    parser.add_argument("--out", type=Path, default=Path("outputs/h200_vs_gb200"))
    args = parser.parse_args()
    results = run(args.requests, args.rate)
    print(f"{'metric':<24}" + "".join(f"{n:>18}" for n in results))
    for key in KEYS:
        print(f"{key:<24}" + "".join(f"{r.metrics[key]:>18.4g}" for r in results.values()))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5), constrained_layout=True)
    for name, result in results.items():
        cost = result.requests["cost_usd_per_mtok"]
        ax.hist(cost[np.isfinite(cost)], bins=60, histtype="step", label=name)
    ax.set_xlabel("cost per request ($ per million tokens)")
    ax.set_ylabel("requests")
    ax.set_title(f"DeepSeek-R1 chat at {args.rate:g} req/s")
    ax.legend()
    fig.savefig(args.out / "cost_distribution.png", dpi=110, metadata={"Software": None})
    print(f"figure: {args.out / 'cost_distribution.png'}")


if __name__ == "__main__":
    main()
