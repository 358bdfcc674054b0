"""``python -m sim.report SWEEP_DIR``: a study's figures, PNG and PDF in ``SWEEP_DIR/figures/``.

- ``cost_per_mtok``: the cost per million delivered tokens of each configuration: the spread over its
  seeds and uncertain inputs (box), the mean and its 95 % interval, and the cost per SLO-met million;
- ``frontier``: throughput per GPU against interactivity, the Pareto frontier highlighted;
- ``tokens_per_mw``: delivered tokens per second per MW of facility power, with the 95 % interval;
- ``latency_cdf``: the TTFT and TPOT distributions of each configuration;
- ``tornado``: which uncertain input drives the cost, when the study sampled any.

A figure whose data the sweep does not hold is skipped with a message, never drawn empty. The figures
are drawn in the shipped style and saved without run-dependent metadata (:mod:`sim.figures`): the same
sweep gives the same bytes.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from sim import figures
from sim.study import plots
from sim.study.confidence import by_configuration, configuration_keys, sensitivity
from sim.study.results import StudyError, load, load_latency, ok_rows

#: At most this many configurations in the latency and tornado figures (the cheapest ones).
MAX_CURVES = 10
MAX_TORNADOS = 4


def configurations(df):
    """Per configuration figures of the jobs that ended ok, cheapest first, with a label each."""
    configs = by_configuration(df)
    configs = configs[configs["jobs_ok"] > 0].sort_values("cost_usd_per_mtok_mean", kind="stable").reset_index(drop=True)
    configs["label"] = plots.labels(configs, configuration_keys(df))
    return configs


def _members(df, config, keys):
    """The rows of ``df`` of one configuration."""
    mask = np.ones(len(df), dtype=bool)
    for k in keys:
        mask &= (df[k].astype(str) == str(config[k])).to_numpy()
    return df[mask]


def cost_figure(df, configs, title_note: str):
    keys = configuration_keys(df)
    ok = ok_rows(df)
    fig, ax = figures.pyplot().subplots(figsize=(8.5, 1.9 + 0.5 * len(configs)))
    for i, config in configs.iterrows():
        values = _members(ok, config, keys)["cost_usd_per_mtok"].astype(float).to_numpy()
        plots.box_with_interval(ax, i, values, config["cost_usd_per_mtok_mean"], config["cost_usd_per_mtok_ci_low"],
                                config["cost_usd_per_mtok_ci_high"], plots.colour(0))
        slo = config["cost_usd_per_slo_met_mtok_mean"]
        if math.isfinite(slo) and slo > config["cost_usd_per_mtok_mean"] * 1.001:
            ax.plot([slo], [i], marker="o", mfc="none", color=plots.colour(3), ms=6, zorder=3)
        if config["slo_met_share"] < 1:
            ax.text(1.0, i, f" SLO met in {config['slo_met_share']:.0%} of runs", transform=ax.get_yaxis_transform(),
                    va="center", fontsize=8, color=plots.colour(3))
    ax.set_yticks(range(len(configs)), configs["label"])
    ax.invert_yaxis()
    ax.set_xlabel("cost per million delivered tokens, input + output ($)")
    ax.set_title(f"What a million delivered tokens costs{title_note}")
    handles = [
        figures.pyplot().Line2D([], [], marker="D", color="black", ls="none", label="mean, with its 95 % confidence interval"),
        figures.pyplot().Rectangle((0, 0), 1, 1, facecolor=plots.colour(0), alpha=0.25, label="spread over seeds and uncertain inputs (box: quartiles; ticks: runs)"),
        figures.pyplot().Line2D([], [], marker="o", mfc="none", color=plots.colour(3), ls="none", label="cost per SLO-met million tokens (mean), where higher"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=1)
    return fig


def frontier_figure(df, configs, title_note: str):
    fig, ax = figures.pyplot().subplots(figsize=(7.5, 5))
    x = configs["interactivity_tok_s_user_mean"].astype(float).to_numpy()
    y = configs["tput_per_gpu_tok_s_mean"].astype(float).to_numpy()
    platforms = list(dict.fromkeys(configs["platform"])) if "platform" in configs else [None]
    for p, platform in enumerate(platforms):
        mine = (configs["platform"] == platform).to_numpy() if platform is not None else np.ones(len(configs), bool)
        ax.scatter(x[mine], y[mine], color=plots.colour(p), s=36, zorder=3, label=plots.pretty_value("platform", platform) if platform else None)
    for (xi, yi), names in plots.nearby_labels(x, y, list(configs["label"])):
        ax.annotate("\n".join(names), (xi, yi), textcoords="offset points", xytext=(6, -4), fontsize=7.5, va="top")
    front = plots.pareto_front(x, y)
    ax.plot(x[front], y[front], color="black", lw=1.2, ls="--", marker="o", mfc="none", ms=11, zorder=2,
            label="Pareto frontier (no configuration is better on both)")
    ax.margins(x=0.18, y=0.1)
    ax.set_xlabel("interactivity: output tokens per second per user (1 / median TPOT)")
    ax.set_ylabel("delivered tokens per second per GPU")
    ax.set_title(f"Throughput against interactivity{title_note}")
    ax.legend(loc="best")
    ax.set_ylim(bottom=0)
    return fig


def energy_figure(df, configs, title_note: str):
    fig, ax = figures.pyplot().subplots(figsize=(8, 1.2 + 0.45 * len(configs)))
    mean = configs["tok_s_per_mw_drawn_mean"].astype(float).to_numpy() / 1e3
    low = configs["tok_s_per_mw_drawn_ci_low"].astype(float).to_numpy() / 1e3
    high = configs["tok_s_per_mw_drawn_ci_high"].astype(float).to_numpy() / 1e3
    ax.barh(range(len(configs)), mean, color=plots.colour(2), alpha=0.8, height=0.6)
    has_ci = np.isfinite(low) & np.isfinite(high)
    idx = np.arange(len(configs))[has_ci]
    if idx.size:
        ax.errorbar(mean[has_ci], idx, xerr=[mean[has_ci] - low[has_ci], high[has_ci] - mean[has_ci]], fmt="none",
                    ecolor="black", capsize=4, label="95 % confidence interval of the mean")
        ax.legend(loc="lower right")
    ax.set_yticks(range(len(configs)), configs["label"])
    ax.invert_yaxis()
    ax.set_xlabel("delivered tokens per second per MW of facility power (thousands)")
    ax.set_title(f"Tokens per megawatt{title_note}")
    return fig


def latency_figure(df, configs, latency, title_note: str):
    keys = configuration_keys(df)
    ok = ok_rows(df)
    fig, axes = figures.pyplot().subplots(1, 2, figsize=(11, 4.2))
    shown = configs.head(MAX_CURVES)
    for i, config in shown.iterrows():
        jobs = set(_members(ok, config, keys)["job"].astype(str))
        first = sorted(jobs, key=lambda j: (len(j), j))[0] if jobs else None
        for ax, metric, scale in ((axes[0], "ttft_s", 1.0), (axes[1], "tpot_s", 1000.0)):
            table = latency[(latency["job"].astype(str) == first) & (latency["metric"] == metric)]
            if len(table):
                plots.cdf_from_quantiles(ax, table["percentile"].to_numpy(), table["value_s"].to_numpy(), config["label"], i, scale)
    axes[0].set_xlabel("time to first token (s)")
    axes[1].set_xlabel("time per output token after the first (ms)")
    for ax in axes:
        ax.set_ylabel("fraction of requests at or below")
    axes[0].legend(loc="lower right", fontsize=7.5)
    more = f" (the {MAX_CURVES} cheapest of {len(configs)})" if len(configs) > MAX_CURVES else ""
    fig.suptitle(f"Latency distributions, one run per configuration{more}{title_note}")
    return fig


def tornado_figure(df, configs, sens, title_note: str):
    keys = configuration_keys(df)
    chosen = [c for _, c in configs.iterrows() if len(_members(sens, c, keys))][:MAX_TORNADOS]
    fig, axes = figures.pyplot().subplots(len(chosen), 1, figsize=(8, 0.6 + 2.2 * len(chosen)), squeeze=False)
    for ax, config in zip(axes[:, 0], chosen):
        rows = _members(sens, config, keys)
        plots.tornado(ax, list(rows["input"]), rows["cost_usd_per_mtok_low_quarter"].to_numpy(),
                      rows["cost_usd_per_mtok_high_quarter"].to_numpy(), config["cost_usd_per_mtok_mean"], rows["variance_share"].to_numpy())
        ax.set_title(config["label"], fontsize=9.5)
        ax.set_xlabel("mean cost per million delivered tokens ($)")
    pyplot = figures.pyplot()
    fig.legend(handles=[pyplot.Rectangle((0, 0), 1, 1, color=plots.colour(0), label="the input in its lowest quarter"),
                        pyplot.Rectangle((0, 0), 1, 1, color=plots.colour(1), label="the input in its highest quarter")],
               loc="outside lower center", ncol=2)
    fig.suptitle(f"What drives the cost's uncertainty (labels: share of the cost's variance){title_note}")
    return fig


def report(sweep_dir: Path, out_dir: Path | None = None) -> tuple[list[Path], list[str]]:
    """Draw every figure the sweep holds the data for; return the files written and the figures skipped (why)."""
    sweep_dir = Path(sweep_dir)
    df = load(sweep_dir)
    out_dir = out_dir or sweep_dir / "figures"
    out_dir.mkdir(parents=True, exist_ok=True)
    configs = configurations(df)
    if configs.empty:
        raise StudyError(f"{sweep_dir}: no job ended ok, so there is nothing to draw; see the table's error column (python -m sim.aggregate {sweep_dir})")
    failed = int((df["status"] != "ok").sum())
    note = f"\n({len(df)} jobs, {failed} without results)" if failed else f"\n({len(df)} jobs)"
    latency = load_latency(sweep_dir)
    sens = sensitivity(df)
    plans = [
        ("cost_per_mtok", lambda: cost_figure(df, configs, note), None),
        ("frontier", lambda: frontier_figure(df, configs, note),
         None if configs[["interactivity_tok_s_user_mean", "tput_per_gpu_tok_s_mean"]].notna().all(axis=None) else "no interactivity or throughput"),
        ("tokens_per_mw", lambda: energy_figure(df, configs, note), None if configs["tok_s_per_mw_drawn_mean"].notna().any() else "no power figures"),
        ("latency_cdf", lambda: latency_figure(df, configs, latency, note), None if len(latency) else "no latency quantiles (latency_quantiles.json) in the job folders"),
        ("tornado", lambda: tornado_figure(df, configs, sens, note),
         None if len(sens) else "no uncertain inputs sampled (uncertainty=...), or too few jobs per configuration (3 per input + 3)"),
    ]
    written, skipped = [], []
    for name, draw, missing in plans:
        if missing:
            skipped.append(f"{name}: skipped, the sweep has {missing}")
            continue
        with figures.style():
            written += figures.save(draw(), out_dir / name)
    return written, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a sweep's folder (job folders, or an aggregated summary.parquet)")
    parser.add_argument("--out", type=Path, help="where to write the figures (default: SWEEP_DIR/figures)")
    args = parser.parse_args(argv)
    try:
        written, skipped = report(args.sweep_dir, args.out)
    except StudyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for line in skipped:
        print(line)
    print(f"{len(written)} files -> {(args.out or args.sweep_dir / 'figures')}: {', '.join(sorted({p.stem for p in written}))}")
    return 0
