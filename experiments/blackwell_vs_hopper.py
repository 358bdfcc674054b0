"""Blackwell against Hopper on DeepSeek-R1: where does "65x the throughput, 35x lower cost per token" fall?

The claim compares GB300 NVL72 at FP4 with MTP against HGX H200 at FP8, at $2.65 against $1.41 per
GPU-hour (with >50x the tokens per MW). A ratio of two frontiers is a curve, not a number: this experiment
searches the throughput–interactivity frontier of each deployment (``sim.planning``: every layout of the
default space, at rising concurrency, in benchmark mode) at 1k/1k and 8k/1k tokens, for H200 FP8 (best
of MTP on and off), GB300 NVL72 and GB200 NVL72 at FP4 with and without MTP, and writes

* ``frontier_{1k1k,8k1k}_{tput,cost,tokens_per_mw}``: the frontiers overlaid;
* ``ratios``: Blackwell over Hopper against interactivity: throughput per GPU, cost per token (H200's over
  Blackwell's) and tokens per provisioned MW, with the claim's levels;
* ``ratios.csv``: every curve at 40, 75 and 116 tok/s/user and its ratios to H200;
* ``claim.csv``: the interactivities where each ratio crosses the claim's level;
* ``waterfall``: why the GB300 token is cheaper, at the interactivity where the 1k/1k throughput ratio
  first reaches 65 (or, if it never does, where it peaks), between the layouts serving it. Where a
  mixture of the two cannot serve users that fast (GB300's rack-scale layout on H200's chips), the
  layout is grouped with the scale-up domain, then with the chip too; the output says which was needed.

    .venv/bin/python experiments/blackwell_vs_hopper.py [--out experiments/results/blackwell_vs_hopper]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from sim.run import figures
from sim.base.config import ConfigError
from sim.planning.frontier import Labelled, benchmark_config, curve, frontier_for, point_rows, write_csv
from sim.planning.frontier import POINT_COLUMNS
from sim.planning.frontier_plot import Curve, plot_frontiers
from sim.planning.pareto import crossing
from sim.planning.runs import Runner
from sim.planning.waterfall import FACTORS, Side, decompose, hybrid_rows, rows, table
from sim.planning.waterfall_plot import plot_waterfall

LENGTHS = {"1k/1k": (1024, 1024), "8k/1k": (8192, 1024)}
DEPLOYMENTS = (("h200", "fp8"), ("gb300_nvl72", "fp4"), ("gb200_nvl72", "fp4"))
CURVES = (  # label, platform, spec filter
    ("H200 FP8", "h200", "any"),
    ("GB300 NVL72 FP4 + MTP", "gb300_nvl72", "mtp"),
    ("GB300 NVL72 FP4, no MTP", "gb300_nvl72", "none"),
    ("GB200 NVL72 FP4 + MTP", "gb200_nvl72", "mtp"),
    ("GB200 NVL72 FP4, no MTP", "gb200_nvl72", "none"),
)
AT = (40.0, 75.0, 116.0)
CLAIM = {"tput": 65.0, "cost": 35.0, "tokens_per_mw": 50.0}
GRID = np.arange(5.0, 320.0, 0.5)


def ratios(blackwell: Curve, hopper: Curve, xs) -> dict[str, list[float | None]]:
    """Blackwell over Hopper at each interactivity: throughput, cost (Hopper's over Blackwell's), tokens per MW."""
    out = {"tput": [], "cost": [], "tokens_per_mw": []}
    for x in xs:
        b, h = blackwell.frontier.tput_at(x), hopper.frontier.tput_at(x)
        ok = b is not None and h is not None
        out["tput"].append(b / h if ok else None)
        out["cost"].append(hopper.cost_at(x) / blackwell.cost_at(x) if ok else None)
        out["tokens_per_mw"].append(blackwell.tok_s_per_mw_at(x) / hopper.tok_s_per_mw_at(x) if ok else None)
    return out


def plot_ratios(curves: dict[str, dict[str, Curve]], stem: Path) -> list[Path]:
    panels = (("tput", "throughput per GPU, Blackwell / H200"), ("cost", "cost per token, H200 / Blackwell"),
              ("tokens_per_mw", "tokens/s per MW, Blackwell / H200"))
    with figures.style():
        plt = figures.pyplot()
        fig, axes = plt.subplots(len(curves), 3, figsize=(14, 4.2 * len(curves)), squeeze=False)
        for row, (lengths, by_label) in enumerate(curves.items()):
            hopper = by_label["H200 FP8"]
            for col, (key, title) in enumerate(panels):
                ax = axes[row][col]
                for i, (label, c) in enumerate(by_label.items()):
                    if label == "H200 FP8":
                        continue
                    r = ratios(c, hopper, GRID)[key]
                    ys = np.array([np.nan if v is None else v for v in r])
                    ax.plot(GRID, ys, color=figures.PALETTE[i - 1], linestyle="-" if "MTP" in label and "no" not in label else "--",
                            label=label)
                ax.axhline(CLAIM[key], color="black", linewidth=0.8, linestyle=":")
                ax.annotate(f"claim {CLAIM[key]:g}x", (GRID[-1], CLAIM[key]), ha="right", va="bottom", fontsize=8)
                ax.set_yscale("log")
                ax.set_xlim(0, GRID[-1])
                ax.set_title(f"{lengths}: {title}", fontsize=9.5)
                ax.set_xlabel("interactivity (tokens/s per user)")
                ax.set_ylabel("ratio (x)")
                if row == 0 and col == 0:
                    ax.legend(loc="lower center", fontsize=7.5)
        fig.suptitle("DeepSeek-R1: Blackwell over HGX H200 FP8 along the frontiers (\\$2.65 vs \\$1.41 per GPU-hour)")
        return figures.save(fig, stem)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("experiments/results/blackwell_vs_hopper"))
    parser.add_argument("--processes", type=int, default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    curves: dict[str, dict[str, Curve]] = {}
    results: dict[tuple[str, str], Labelled] = {}
    with Runner(args.processes) as runner:
        for lengths, (isl, osl) in LENGTHS.items():
            point_table = []
            for platform, precision in DEPLOYMENTS:
                base = benchmark_config("model=deepseek_r1", f"platform={platform}", f"precision={precision}",
                                        f"workload.input_tokens={isl}", f"workload.output_tokens={osl}")
                result = frontier_for(base, runner)
                results[(lengths, platform)] = Labelled(f"{platform} {precision.upper()} {lengths}", result)
                point_table += point_rows(results[(lengths, platform)])
                print(f"{lengths} {platform}: {len(result.points)} points, {result.cpu_s:.0f} CPU s, {result.wall_s:.0f} s")
            curves[lengths] = {label: curve(label, results[(lengths, p)].result, spec) for label, p, spec in CURVES}
            stem = f"frontier_{lengths.replace('/', '')}"
            write_csv(args.out / f"{stem}.csv", point_table, POINT_COLUMNS)
            plot_frontiers(list(curves[lengths].values()), args.out, f"DeepSeek-R1 {lengths}: frontiers", prefix=stem)
        plot_ratios(curves, args.out / "ratios")
        table_rows, claim_rows = [], []
        for lengths, by_label in curves.items():
            hopper = by_label["H200 FP8"]
            for label, c in by_label.items():
                r = ratios(c, hopper, AT)
                for k, x in enumerate(AT):
                    t = c.frontier.tput_at(x)
                    table_rows.append({
                        "lengths": lengths, "curve": label, "interactivity_tok_s_user": x, "tput_per_gpu_tok_s": t,
                        "cost_usd_per_mtok": c.cost_at(x), "tok_s_per_mw_provisioned": c.tok_s_per_mw_at(x),
                        "tput_ratio_vs_h200": r["tput"][k], "cost_ratio_h200_over": r["cost"][k], "tok_s_per_mw_ratio_vs_h200": r["tokens_per_mw"][k],
                        "max_interactivity": c.frontier.max_interactivity,
                    })
                if label == "H200 FP8":
                    continue
                grid = ratios(c, hopper, GRID)
                for key, level in CLAIM.items():
                    values = [v for v in grid[key] if v is not None]
                    claim_rows.append({"lengths": lengths, "curve": label, "ratio": key, "claim": level,
                                       "crosses_at_tok_s_user": " ".join(f"{x:.1f}" for x in crossing(GRID, grid[key], level)),
                                       "max_ratio": max(values) if values else None,
                                       "max_ratio_at": GRID[int(np.nanargmax([np.nan if v is None else v for v in grid[key]]))] if values else None})
        write_csv(args.out / "ratios.csv", table_rows)
        write_csv(args.out / "claim.csv", claim_rows)
        waterfall_point(curves["1k/1k"], results, runner, args.out)
    for row in table_rows:
        t = row["tput_per_gpu_tok_s"]
        print(f"{row['lengths']:>5} {row['curve']:<26} {row['interactivity_tok_s_user']:>5g} tok/s/user: "
              + (f"{t:>8,.0f} tok/s/GPU ${row['cost_usd_per_mtok']:.3f}/Mtok  x{row['tput_ratio_vs_h200'] or float('nan'):.1f} tput "
                 f"x{row['cost_ratio_h200_over'] or float('nan'):.1f} cost x{row['tok_s_per_mw_ratio_vs_h200'] or float('nan'):.1f} tok/MW"
                 if t else f"unreachable (fastest {row['max_interactivity']:.0f})"))
    for row in claim_rows:
        print(f"{row['lengths']:>5} {row['curve']:<26} {row['ratio']:<13} = {row['claim']:g}x at {row['crosses_at_tok_s_user'] or 'never'}"
              f" (max {row['max_ratio'] or 0:.1f}x at {row['max_ratio_at'] or 0:.0f} tok/s/user)")
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")


#: Factor groupings tried in turn: a hybrid that cannot serve the claim's interactivity (B's rack-scale layout
#: on H200's chips, say) makes the finer decomposition impossible there, so the layout joins what it needs.
GROUPINGS = (
    list(FACTORS),
    ["price", "chip", "precision", "interconnect+layout", "speculative"],
    ["price", "chip+interconnect+layout", "precision", "speculative"],
)


def waterfall_point(by_label: dict[str, Curve], results, runner: Runner, out: Path) -> None:
    """The cost waterfall between the layouts serving the claim's interactivity on H200 and GB300 (1k/1k)."""
    hopper, gb300 = by_label["H200 FP8"], by_label["GB300 NVL72 FP4 + MTP"]
    tput = ratios(gb300, hopper, GRID)["tput"]
    at = crossing(GRID, tput, CLAIM["tput"])
    x = at[0] if at else float(GRID[int(np.nanargmax([np.nan if v is None else v for v in tput]))])
    sides = []
    for c, platform in ((hopper, "h200"), (gb300, "gb300_nvl72")):
        point = c.points[c.frontier.serving_point(x)]
        base = results[("1k/1k", platform)].result.base
        sides.append(Side(f"{base.platform.name} {base.precision.name.upper()} {point.layout.name}", base, point.layout))
    for factors in GROUPINGS:
        try:
            w = decompose(sides[0], sides[1], x, factors, runner)
            break
        except ConfigError as err:
            print(f"waterfall with factors {','.join(factors)} at {x:.1f} tok/s/user: {err}")
    else:
        w = decompose(sides[0], sides[1], x, list(FACTORS), runner, or_lower=True)
    write_csv(out / "waterfall.csv", rows(w))
    write_csv(out / "waterfall_hybrids.csv", hybrid_rows(w))
    plot_waterfall(w, [row["label"] for row in rows(w)], out / "waterfall")
    print(table(w))


if __name__ == "__main__":
    main()
