"""``python -m sim.report SWEEP_DIR``: a study's figures, PNG and PDF in ``SWEEP_DIR/figures/``.

- ``cost_per_mtok``: the cost per million delivered tokens of each configuration: the spread over its
  seeds and uncertain inputs (box), the mean and its 95 % interval, and the cost per SLO-met million;
- ``frontier``: throughput per GPU against interactivity, the Pareto frontier highlighted;
- ``tokens_per_mw``: delivered tokens per second per MW of facility power, with the 95 % interval;
- ``latency_cdf``: the TTFT and TPOT distributions of each configuration;
- ``tornado``: which uncertain input drives the cost, when the study sampled any.

A figure whose data the sweep does not hold is skipped with a message, never drawn empty. The figures
are drawn in the shipped style and saved without run-dependent metadata (:mod:`sim.run.figures`): the same
sweep gives the same bytes.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np

from sim.run import figures
from sim.base.errors import CommandParser, run_command
from sim.base.files import check_output_dir
from sim.study import plots
from sim.study.confidence import by_configuration, by_overrides, configuration_keys, sensitivity
from sim.study.results import CONFIGURATION, StudyError, load, load_latency, ok_rows

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


def _members_of(df, config):
    """The rows of ``df`` of one configuration (by its overrides when the table has them)."""
    keys = [CONFIGURATION] if by_overrides(df) and CONFIGURATION in config else configuration_keys(df)
    return _members(df, config, keys)


def cost_figure(df, configs, title_note: str):
    ok = ok_rows(df)
    fig, ax = figures.pyplot().subplots(figsize=(8.5, 1.9 + 0.5 * len(configs)))
    spread = [0.0]
    for i, config in configs.iterrows():
        values = _members_of(ok, config)["cost_usd_per_mtok"].astype(float).to_numpy()
        plots.box_with_interval(ax, i, values, config["cost_usd_per_mtok_mean"], config["cost_usd_per_mtok_ci_low"],
                                config["cost_usd_per_mtok_ci_high"], plots.colour(0))
        spread += [v for v in (*values, config["cost_usd_per_mtok_ci_high"]) if math.isfinite(v)]
    right = 1.3 * max(spread)  # the boxes set the scale; a far higher cost per SLO-met token is marked at the edge
    for i, config in configs.iterrows():
        slo, none = config["cost_usd_per_slo_met_mtok_pooled"], int(config.get("jobs_without_slo_met_tokens", 0) or 0)
        share = config.get("slo_met_token_share", math.nan)
        if share < 0.999:  # some delivered tokens missed the SLO
            shown = min(slo, right * 0.97)
            ax.plot([shown], [i], marker="o" if shown == slo else ">", mfc="none", color=plots.colour(3), ms=6, zorder=3)
            if shown != slo:
                ax.annotate("none met" if math.isinf(slo) else f"${slo:.2f}", (shown, i), xytext=(-6, 0), textcoords="offset points",
                            ha="right", va="center", fontsize=8, color=plots.colour(3))
        if config["slo_met_share"] < 1:
            tokens = f", by {share:.0%} of the tokens" if math.isfinite(share) else ""
            runs = f"\n {none} run{'s' if none > 1 else ''} without an SLO-met token" if none else ""
            ax.text(1.0, i, f" SLO met in {config['slo_met_share']:.0%} of runs{tokens}{runs}", transform=ax.get_yaxis_transform(),
                    va="center", fontsize=8, color=plots.colour(3))
    ax.set_xlim(0, right)
    ax.set_yticks(range(len(configs)), configs["label"])
    ax.invert_yaxis()
    ax.set_xlabel("cost per million delivered tokens, input + output ($)")
    ax.set_title(f"What a million delivered tokens costs{title_note}")
    pyplot = figures.pyplot()
    handles = [
        pyplot.Line2D([], [], marker="D", color="black", ls="none", label="mean, with its 95 % confidence interval"),
        pyplot.Rectangle((0, 0), 1, 1, facecolor=plots.colour(0), alpha=0.25, label="spread over seeds and uncertain inputs (box: quartiles; ticks: runs)"),
        pyplot.Line2D([], [], marker="o", mfc="none", color=plots.colour(3), ls="none",
                      label="cost per SLO-met million tokens where some tokens missed the SLO:\nall runs' cost over all their SLO-met tokens (\u25b7: off the scale)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=1)
    return fig


def frontier_figure(df, configs, title_note: str):
    fig, ax = figures.pyplot().subplots(figsize=(7.5, 5))
    x = configs["interactivity_tok_s_user_mean"].astype(float).to_numpy()
    y = configs["tput_per_gpu_tok_s_mean"].astype(float).to_numpy()
    platforms = list(dict.fromkeys(configs["platform"])) if "platform" in configs else [None]
    for p, platform in enumerate(platforms):  # hollow, a shape per platform: coinciding points both stay visible
        mine = (configs["platform"] == platform).to_numpy() if platform is not None else np.ones(len(configs), bool)
        ax.scatter(x[mine], y[mine], facecolors="none", edgecolors=plots.colour(p), marker=plots.marker(p), s=80, linewidths=1.8,
                   zorder=3, label=plots.pretty_value("platform", platform) if platform else None)
    for (xi, yi), names in plots.nearby_labels(x, y, list(configs["label"])):
        ax.annotate(plots.merged_label(names), (xi, yi), textcoords="offset points", xytext=(8, -6), fontsize=7.5, va="top")
    front = plots.pareto_front(x, y)
    if len(front) > 1:
        ax.plot(x[front], y[front], color="black", lw=1.2, ls="--", marker="o", mfc="none", ms=14, zorder=2,
                label="Pareto frontier (no configuration is better on both)")
    else:
        ax.plot(x[front], y[front], color="black", ls="none", marker="o", mfc="none", ms=16, zorder=2,
                label="best on both axes (the Pareto frontier is this one point)")
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


def median_run(runs):
    """The run of median cost among a configuration's runs (the lower middle one of an even number; ties by job)."""
    ordered = runs.assign(_cost=runs["cost_usd_per_mtok"].astype(float), _job=runs["job"].astype(str))
    ordered = ordered.sort_values(["_cost", "_job"], kind="stable")
    return ordered.iloc[(len(ordered) - 1) // 2]


def _run_name(run) -> str:
    """Which replication a run is, e.g. ``seed 0, sample 7``."""
    parts = [f"{name} {run[key]:g}" if isinstance(run[key], float) else f"{name} {run[key]}"
             for key, name in (("seed", "seed"), ("uncertainty.sample", "sample")) if key in run and run[key] == run[key]]
    return ", ".join(parts) or f"job {run['job']}"


def latency_runs(df, configs) -> list[tuple[int, object, object]]:
    """(position, configuration, run) of the runs the latency figure draws: the run of median cost of each of
    the :data:`MAX_CURVES` cheapest configurations (a shipped example keeps only their latency quantiles)."""
    ok = ok_rows(df)
    chosen = []
    for i, config in configs.head(MAX_CURVES).iterrows():
        runs = _members_of(ok, config)
        if len(runs):
            chosen.append((i, config, median_run(runs)))
    return chosen


def latency_figure(df, configs, latency, title_note: str):
    fig, axes = figures.pyplot().subplots(1, 2, figsize=(11, 4.4))
    for i, config, run in latency_runs(df, configs):
        for ax, metric, scale in ((axes[0], "ttft_s", 1.0), (axes[1], "tpot_s", 1000.0)):
            table = latency[(latency["job"].astype(str) == str(run["job"])) & (latency["metric"] == metric)]
            if len(table):
                label = f"{config['label']} ({_run_name(run)})"
                plots.cdf_from_quantiles(ax, table["percentile"].to_numpy(), table["value_s"].to_numpy(), label, i, scale)
    axes[0].set_xlabel("time to first token (s)")
    axes[1].set_xlabel("time per output token after the first (ms)")
    for ax in axes:
        ax.set_ylabel("fraction of requests at or below")
    axes[0].legend(loc="lower right", fontsize=7.5)
    more = f" (the {MAX_CURVES} cheapest of {len(configs)})" if len(configs) > MAX_CURVES else ""
    fig.suptitle(f"Latency distributions of the run of median cost of each configuration (which one: in the legend){more}{title_note}")
    return fig


def alike(a, b, tolerance: float = 0.03) -> bool:
    """Two configurations' sensitivities tell the same story: every input's share of the rank variance and its
    swing relative to the cost agree within ``tolerance``."""
    a, b = a.set_index("input"), b.set_index("input")
    if set(a.index) != set(b.index):
        return False
    swing = lambda t: (t["cost_usd_per_mtok_input_at_q75"] - t["cost_usd_per_mtok_input_at_q25"]) / t["cost_usd_per_mtok_at_medians"]  # noqa: E731
    return bool(((a["variance_share"] - b["variance_share"][a.index]).abs() <= tolerance).all()
                and ((swing(a) - swing(b)[a.index]).abs() <= tolerance).all())


def tornado_figure(df, configs, sens, title_note: str):
    panels: list[tuple[object, object, list[str]]] = []  # (configuration, its rows, labels of those alike)
    for _, config in configs.iterrows():
        rows = _members_of(sens, config)
        if not len(rows):
            continue
        for _, first, others in panels:
            if alike(first, rows):
                others.append(config["label"])
                break
        else:
            panels.append((config, rows, []))
    panels = panels[:MAX_TORNADOS]
    fig, axes = figures.pyplot().subplots(len(panels), 1, figsize=(8.5, 0.9 + 2.5 * len(panels)), squeeze=False)
    for ax, (config, rows, others) in zip(axes[:, 0], panels):
        plots.tornado(ax, list(rows["input"]), rows["cost_usd_per_mtok_input_at_q25"].to_numpy(),
                      rows["cost_usd_per_mtok_input_at_q75"].to_numpy(), float(rows["cost_usd_per_mtok_at_medians"].iloc[0]),
                      rows["variance_share"].to_numpy())
        names = ", ".join(name.replace(" ", "\u00a0") for name in others)  # lines break between names only
        also = "\n" + textwrap.fill(f"(the same picture, shares and swings within 3 points, for {names})", 85) if others else ""
        ax.set_title(f"{config['label']}{also}", fontsize=9.5)
        ax.set_xlabel("cost per million delivered tokens ($), predicted with the other inputs at their medians")
    pyplot = figures.pyplot()
    fig.legend(handles=[pyplot.Rectangle((0, 0), 1, 1, color=plots.colour(0), label="the input at its lower quartile"),
                        pyplot.Rectangle((0, 0), 1, 1, color=plots.colour(1), label="the input at its upper quartile")],
               loc="outside lower center", ncol=2)
    fig.suptitle(f"What drives the cost's uncertainty (labels: each input's share of the variance of the cost's ranks){title_note}")
    return fig


def figures_dir(source: Path, out_dir: Path | None = None) -> Path:
    """Where the figures go: ``out_dir``, else ``figures/`` beside the sweep's job folders or its aggregated table."""
    source = Path(source)
    return Path(out_dir) if out_dir else (source.parent if source.is_file() else source) / "figures"


def report(sweep_dir: Path, out_dir: Path | None = None) -> tuple[list[Path], list[str]]:
    """Draw every figure the sweep (its folder, or an aggregated ``summary.parquet``) holds the data for; return
    the files written and the figures skipped (why). The figures' folder is checked before anything is read."""
    sweep_dir = Path(sweep_dir)
    out_dir = figures_dir(sweep_dir, out_dir)
    check_output_dir(out_dir, "--out")
    df = load(sweep_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    configs = configurations(df)
    if configs.empty:
        raise StudyError(f"{sweep_dir}: no job ended ok, so there is nothing to draw; see the table's error column (python -m sim.aggregate {sweep_dir})")
    failed = int((df["status"] != "ok").sum())
    note = f"\n({len(df)} jobs, {failed} without results)" if failed else f"\n({len(df)} jobs)"
    latency = load_latency(sweep_dir.parent if sweep_dir.is_file() else sweep_dir)
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


def _main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m sim.report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a sweep's folder (job folders, or an aggregated summary.parquet), or that table")
    parser.add_argument("--out", type=Path, help="where to write the figures (default: figures/ beside the sweep's jobs or table)")
    args = parser.parse_args(argv)
    written, skipped = report(args.sweep_dir, args.out)
    for line in skipped:
        print(line)
    print(f"{len(written)} files -> {figures_dir(args.sweep_dir, args.out)}: {', '.join(sorted({p.stem for p in written}))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command: a refusal or a failure is one line on stderr (:func:`sim.base.errors.run_command`)."""
    return run_command(_main, argv)
