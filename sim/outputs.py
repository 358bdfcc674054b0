"""What a run leaves behind: ``metrics.json``, the per-request table, a figure, a printed summary.

Every file is written atomically (:mod:`sim.files`), and the figure in the shipped style with fixed
metadata (:mod:`sim.figures`), so reruns are byte-identical.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from sim import figures
from sim.files import atomic_path, atomic_write_text

SUMMARY_ROWS = (
    ("requests completed", "requests_completed", "{:.0f}"),
    ("GPUs", "gpus", "{:.0f}"),
    ("simulated time", "sim_time_s", "{:.1f} s"),
    ("throughput / GPU", "tput_per_gpu_tok_s", "{:,.0f} tok/s"),
    ("TTFT p50 / p99", ("ttft_s_p50", "ttft_s_p99"), "{:.3f} / {:.3f} s"),
    ("TPOT p50 / p99", ("tpot_s_p50", "tpot_s_p99"), "{:.1f} / {:.1f} ms", 1000),
    ("interactivity", "interactivity_tok_s_user", "{:.1f} tok/s/user"),
    ("SLO attainment", "slo_attainment", "{:.1%}"),
    ("power (facility)", "power_kw", "{:,.1f} kW"),
    ("fleet cost", "cost_usd_per_hour", "${:,.2f} / h"),
    ("cost per Mtok", "cost_usd_per_mtok", "${:.3f}"),
    ("per-request p50 / p90", ("cost_usd_per_mtok_p50", "cost_usd_per_mtok_p90"), "${:.3f} / ${:.3f} per Mtok"),
    ("tokens/s per MW", "tok_s_per_mw", "{:,.0f}"),
    ("wall time / events", ("wall_time_s", "events"), "{:.2f} s / {:,.0f}"),
)


def _json_value(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def write_metrics(path: Path, metrics: dict) -> None:
    """``metrics.json``: scalars, non-finite values as null."""
    atomic_write_text(path, json.dumps({k: _json_value(v) for k, v in metrics.items()}, indent=2, sort_keys=True) + "\n")


def write_table(path: Path, columns: dict[str, np.ndarray]) -> None:
    """A CSV with one row per index of the columns."""
    names = list(columns)
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        writer.writerows(zip(*(columns[n].tolist() for n in names)))


def summary_text(metrics: dict, title: str) -> str:
    lines = [title, "-" * len(title)]
    for row in SUMMARY_ROWS:
        label, keys, fmt = row[:3]
        scale = row[3] if len(row) > 3 else 1
        keys = keys if isinstance(keys, tuple) else (keys,)
        values = [metrics.get(k, float("nan")) for k in keys]
        values = [v * scale if k.startswith("tpot") else v for k, v in zip(keys, values)]
        lines.append(f"{label:<24}{fmt.format(*values)}")
    return "\n".join(lines)


def write_figure(path: Path, columns: dict[str, np.ndarray], title: str) -> None:
    """Latency CDFs (TTFT, TPOT, end to end) and the per-request cost distribution, PNG at ``path``."""
    with figures.style():
        _draw_figure(path, columns, title)


def _draw_figure(path: Path, columns: dict[str, np.ndarray], title: str) -> None:
    done = columns["status"] == "completed"
    fig, axes = figures.pyplot().subplots(1, 4, figsize=(16, 3.6))
    panels = (("ttft_s", "TTFT (s)", 1), ("tpot_s", "TPOT (ms)", 1000), ("e2e_s", "end-to-end latency (s)", 1))
    for ax, (key, label, scale) in zip(axes, panels):
        values = np.sort(columns[key][done] * scale)
        values = values[np.isfinite(values)]
        if values.size:
            ax.step(values, np.arange(1, values.size + 1) / values.size, where="post")
        ax.set_xlabel(label)
        ax.set_ylabel("fraction of requests")
    cost = columns["cost_usd_per_mtok"][done]
    cost = cost[np.isfinite(cost)]
    if cost.size:
        axes[3].hist(cost, bins=50)
    axes[3].set_xlabel("cost per request ($ per Mtok)")
    axes[3].set_ylabel("requests")
    fig.suptitle(title)
    figures.save(fig, path.with_suffix(""), formats=(path.suffix.lstrip("."),))
