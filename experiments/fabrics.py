"""Racks and fabrics: DeepSeek-R1 expert parallelism across scale-up domains, and workers sharing a spine.

1. **Expert-parallel width.** A DeepSeek-R1 FP4 decode worker of 8, 16, 32 or 64 GPUs (attention data
   parallel, experts over all its GPUs) on HGX B200 nodes over 400G or 800G NICs, and inside one GB200
   NVL72 rack. Its decode iteration is timed by the performance model at a fixed batch per GPU (2,048
   tokens of context per request, no speculative decoding): few requests per GPU, where latencies
   dominate, and many, where bandwidth does. Tokens per GPU = requests per GPU / iteration time.
2. **Workers sharing a spine.** 1, 2, 4 or 8 such workers of 32 GPUs (4 nodes) on HGX B200, placed
   ``spread`` over four leaf groups of 8 nodes, so each worker's all-to-all crosses the spine and every
   leaf group's uplinks carry one node of each worker; the uplinks oversubscribed 1:1, 2:1 or 4:1. Each
   worker serves a closed loop of 128 clients (1k/1k chat) in the simulation, with contention on.

Writes ``ep_width.csv``, ``spine.csv`` and the figure ``fabrics.png`` / ``.pdf`` into ``--out``:

    .venv/bin/python experiments/fabrics.py [--out experiments/fabrics] [--requests-per-worker 512]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from sim.run import figures
from sim.base.config import compose_config
from sim.base.files import atomic_path
from sim.run.simulation import Simulation, build

MODEL = ("model=deepseek_r1", "precision=fp4", "worker.dp_attn=true", "fleet.workers=1")
FABRICS = {
    "HGX B200, 400G NICs": ("platform=b200",),
    "HGX B200, 800G NICs": ("platform=b200", "platform.topology.scaleout.nic_gbps=800"),
    "GB200 NVL72": ("platform=gb200_nvl72",),
}
WIDTHS = (8, 16, 32, 64)
BATCHES = (4, 64)  # requests per GPU
CONTEXT_TOKENS = 2048


def ep_width() -> list[dict]:
    rows = []
    for fabric, platform in FABRICS.items():
        for width in WIDTHS:
            perf = build(compose_config(*platform, *MODEL, f"worker.tp={width}")).perf
            for per_gpu in BATCHES:
                batch = per_gpu * width
                parts = perf.iteration_parts(0, 0.0, 0.0, batch, float(batch * CONTEXT_TOKENS))
                seconds = parts.seconds()
                comm = parts.alltoall_link_s + parts.alltoall_latency_s + parts.allreduce_link_s + parts.allreduce_latency_s
                rows.append({
                    "fabric": fabric, "ep": width, "requests_per_gpu": per_gpu, "iteration_ms": 1000 * seconds,
                    "tok_s_per_gpu": per_gpu / seconds, "comm_frac": comm / seconds,
                })
    return rows


def spine(requests_per_worker: int) -> list[dict]:
    rows = []
    for oversubscription in (1, 2, 4):
        for workers in (1, 2, 4, 8):
            cfg = compose_config(
                "platform=b200", "model=deepseek_r1", "precision=fp4", "fleet.racks=32", f"fleet.workers={workers}",
                "worker.tp=32", "worker.dp_attn=true", "fleet.placement=spread", "platform.topology.scaleout.gpus_per_leaf=64",
                f"platform.topology.scaleout.oversubscription={oversubscription}", "workload=closed_loop",
                f"workload.concurrency={128 * workers}", f"workload.num_requests={requests_per_worker * workers}",
                "output.figure=false", "output.requests_csv=false", "output.print_summary=false",
            )
            sim = Simulation(build(cfg))
            result = sim.run()
            m, w = result.metrics, result.workers
            rows.append({
                "oversubscription": oversubscription, "workers": workers, "tok_s_per_gpu": m["tput_per_gpu_tok_s"],
                "iteration_ms": 1000 * float(w["busy_s"].sum() / w["iterations"].sum()),
                "comm_frac": m["comm_time_frac"], "link_util_max": m["link_util_max"], "tpot_ms_p50": 1000 * m["tpot_s_p50"],
            })
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()} for row in rows)


def draw(widths: list[dict], spines: list[dict], stem: Path) -> None:
    with figures.style():
        fig, axes = figures.pyplot().subplots(1, 3, figsize=(15, 4.2))
        for color, fabric in zip(figures.PALETTE, FABRICS):
            for per_gpu, line in zip(BATCHES, (":", "-")):
                rows = [r for r in widths if r["fabric"] == fabric and r["requests_per_gpu"] == per_gpu]
                label = f"{fabric}, {per_gpu} requests/GPU"
                axes[0].plot([r["ep"] for r in rows], [r["iteration_ms"] for r in rows], line, marker="o", color=color, label=label)
                axes[1].plot([r["ep"] for r in rows], [r["tok_s_per_gpu"] for r in rows], line, marker="o", color=color, label=label)
        for ax, ylabel in zip(axes[:2], ("decode iteration time (ms)", "decode tokens/s per GPU")):
            ax.set_xscale("log", base=2)
            ax.set_xticks(WIDTHS, [str(w) for w in WIDTHS])
            ax.set_xlabel("expert-parallel width (GPUs per worker)")
            ax.set_ylabel(ylabel)
        axes[0].set_ylim(bottom=0)
        axes[0].set_title("DeepSeek-R1 FP4 decode iteration (2k context)")
        axes[1].set_yscale("log")
        axes[1].set_yticks([300, 500, 1000, 2000, 3000, 5000], ["300", "500", "1,000", "2,000", "3,000", "5,000"])
        axes[1].minorticks_off()
        axes[1].set_title("Decode tokens per GPU")
        axes[0].legend(fontsize=7.5, loc="lower left")
        for color, oversubscription in zip(figures.PALETTE[3:], (1, 2, 4)):
            rows = [r for r in spines if r["oversubscription"] == oversubscription]
            axes[2].plot([r["workers"] for r in rows], [r["tok_s_per_gpu"] for r in rows], marker="o", color=color,
                         label=f"leaf uplinks {oversubscription}:1")
        axes[2].set_xscale("log", base=2)
        axes[2].set_xticks((1, 2, 4, 8), ["1", "2", "4", "8"])
        axes[2].set_xlabel("workers of 32 GPUs sharing the spine")
        axes[2].set_ylabel("tokens/s per GPU (input + output)")
        axes[2].set_ylim(bottom=0)
        axes[2].set_title("Workers sharing a spine (HGX B200, 400G)")
        axes[2].legend(loc="lower left")
        figures.save(fig, stem)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "fabrics")
    parser.add_argument("--requests-per-worker", type=int, default=512)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    widths, spines = ep_width(), spine(args.requests_per_worker)
    write_csv(args.out / "ep_width.csv", widths)
    write_csv(args.out / "spine.csv", spines)
    draw(widths, spines, args.out / "fabrics")
    for row in widths + spines:
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})
    print(f"wrote {args.out}/ep_width.csv, spine.csv, fabrics.png, fabrics.pdf")


if __name__ == "__main__":
    main()
