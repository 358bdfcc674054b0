"""BF16 against FP8 against FP4: what precision buys each model on each kind of platform.

For every model (DeepSeek-R1, Llama-3.3-70B, Llama-3.1-405B, gpt-oss-120b, Qwen3-235B) on one platform of
each kind (HGX H200: no FP4 tensor cores; HGX B200; GB200 NVL72, rack-scale; MI355X) at every precision the
platform computes in (FP4 only with FP4 tensor cores), the 1k/1k throughput–interactivity frontier over
the default search space (``sim.planning``), read at 25, 50 and 100 tokens/s per user. Writes
``precision_sweep.csv`` (peak throughput per GPU, throughput and cost per million tokens at each
interactivity, or why a combination has none: the model does not fit, or cannot serve users that fast)
and ``precision_sweep.png``/``.pdf`` (cost per million tokens at 50 tokens/s per user).

    .venv/bin/python experiments/precision_sweep.py [--out experiments/results/precision_sweep]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from sim.run import figures
from sim.base.config import ConfigError
from sim.planning.frontier import benchmark_config, curve, frontier_for, write_csv
from sim.planning.runs import Runner

MODELS = ("deepseek_r1", "llama3_70b", "llama3_405b", "gpt_oss_120b", "qwen3_235b")
PLATFORMS = ("h200", "b200", "gb200_nvl72", "mi355x")
PRECISIONS = ("bf16", "fp8", "fp4")
AT = (25.0, 50.0, 100.0)
SHOWN = 50.0


def sweep(runner: Runner, models, platforms, max_concurrency: int) -> list[dict]:
    rows = []
    for model in models:
        for platform in platforms:
            for precision in PRECISIONS:
                row = {"model": model, "platform": platform, "precision": precision}
                try:
                    base = benchmark_config(f"model={model}", f"platform={platform}", f"precision={precision}")
                    result = frontier_for(base, runner, max_concurrency=max_concurrency)
                except ConfigError as err:
                    lines = str(err).splitlines()
                    reason = "no FP4 tensor cores" if "FP4 tensor cores" in lines[0] else (
                        "does not fit in any layout of the space" if any("does not fit" in l or "holds" in l for l in lines) else lines[0])
                    rows.append({**row, "status": reason})
                    print(f"{model} {platform} {precision}: {reason}")
                    continue
                c = curve(f"{platform} {precision}", result)
                row.update({"status": "ok", "peak_tput_per_gpu_tok_s": max(c.frontier.ys), "max_interactivity_tok_s_user": c.frontier.max_interactivity,
                            "cpu_s": result.cpu_s})
                for x in AT:
                    row[f"tput_per_gpu_at_{x:g}"] = c.frontier.tput_at(x)
                    row[f"cost_usd_per_mtok_at_{x:g}"] = c.cost_at(x)
                rows.append(row)
                print(f"{model} {platform} {precision}: peak {row['peak_tput_per_gpu_tok_s']:,.0f} tok/s/GPU, "
                      f"${row[f'cost_usd_per_mtok_at_{SHOWN:g}'] or float('nan'):.3f}/Mtok at {SHOWN:g} tok/s/user ({result.cpu_s:.0f} CPU s)")
    return rows


def plot(rows: list[dict], models, platforms, stem: Path) -> list[Path]:
    key = f"cost_usd_per_mtok_at_{SHOWN:g}"
    with figures.style():
        plt = figures.pyplot()
        fig, axes = plt.subplots(1, len(models), figsize=(3.3 * len(models), 4.2), sharey=True)
        width = 0.8 / len(PRECISIONS)
        for ax, model in zip(np.atleast_1d(axes), models):
            for j, precision in enumerate(PRECISIONS):
                xs, ys = [], []
                for i, platform in enumerate(platforms):
                    row = next(r for r in rows if (r["model"], r["platform"], r["precision"]) == (model, platform, precision))
                    value = row.get(key)
                    x = i + (j - 1) * width
                    if value:
                        xs.append(x)
                        ys.append(value)
                    else:
                        ax.annotate("x", (x, 0), ha="center", va="bottom", fontsize=8, color=figures.PALETTE[j], xycoords=("data", "axes fraction"))
                ax.bar(xs, ys, width=width, color=figures.PALETTE[j], label=precision.upper())
            ax.set_xticks(range(len(platforms)), [p.replace("_nvl72", "\nNVL72") for p in platforms], fontsize=8)
            ax.set_xlim(-0.5, len(platforms) - 0.5)
            ax.set_yscale("log")
            ax.set_title(model, fontsize=9.5)
            ax.grid(axis="x", visible=False)
        np.atleast_1d(axes)[0].set_ylabel(f"cost per million tokens at {SHOWN:g} tokens/s per user ($)")
        handles, names = np.atleast_1d(axes)[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncols=len(PRECISIONS),
                   title="x: no figure (no FP4 tensor cores, does not fit, or never this fast for users)")
        fig.suptitle(f"Precision against cost per token, 1k/1k, the best layout at {SHOWN:g} tokens/s per user (hyperscaler prices)")
        return figures.save(fig, stem)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("experiments/results/precision_sweep"))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--platforms", default=",".join(PLATFORMS))
    parser.add_argument("--max-concurrency", type=int, default=4096)
    parser.add_argument("--processes", type=int, default=None)
    args = parser.parse_args()
    models, platforms = args.models.split(","), args.platforms.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with Runner(args.processes) as runner:
        rows = sweep(runner, models, platforms, args.max_concurrency)
    write_csv(args.out / "precision_sweep.csv", rows)
    plot(rows, models, platforms, args.out / "precision_sweep")
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
