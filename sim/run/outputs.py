"""What a run leaves behind: ``metrics.json``, the per-request table (CSV, or Parquet for large runs),
the latency quantiles a study's report draws from, a figure, a printed summary.

Every file is written atomically (:mod:`sim.base.files`), and the figure in the shipped style with fixed
metadata (:mod:`sim.run.figures`), so reruns are byte-identical.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from sim.run import figures
from sim.base.config import ConfigError, OutputConfig
from sim.base.files import atomic_path, atomic_write_text
from sim.run.measurement import completed_in

#: Formats of the per-request table.
REQUEST_FORMATS = ("auto", "csv", "parquet")
#: The percentiles of ``latency_quantiles.json``: every percent, and the 99.9th.
LATENCY_PERCENTILES = (*range(0, 100), 99.9, 100)

SUMMARY_ROWS = (
    ("requests completed", "requests_completed", "{:.0f}"),
    ("GPUs", "gpus", "{:.0f}"),
    ("simulated time", "sim_time_s", "{:.1f} s"),
    ("throughput / GPU", "tput_per_gpu_tok_s", "{:,.0f} tok/s"),
    ("TTFT p50 / p99", ("ttft_s_p50", "ttft_s_p99"), "{:.3f} / {:.3f} s"),
    ("TPOT p50 / p99", ("tpot_s_p50", "tpot_s_p99"), "{:.1f} / {:.1f} ms", 1000),
    ("tok/s/user mean / p50", ("interactivity_tok_s_user", "interactivity_p50_tok_s_user"), "{:.1f} / {:.1f} (interactivity)"),
    ("SLO attainment", "slo_attainment", "{:.1%}"),
    ("measured", ("measured_s", "warmup_s"), "{:.1f} s of steady state after a {:.1f} s warm-up"),
    ("communication share", "comm_time_frac", "{:.1%} of busy time"),
    (" GEMM/attn/act/a2a/AR/fixed", ("gemm_time_frac", "attention_time_frac", "activations_time_frac", "alltoall_time_frac",
     "allreduce_time_frac", "overhead_time_frac"), "{:.0%} / {:.0%} / {:.0%} / {:.0%} / {:.0%} / {:.0%}"),
    ("busiest link", "link_util_max", "{:.1%} utilised"),
    ("KV transfer p50 / p99", ("kv_transfer_s_p50", "kv_transfer_s_p99"), "{:.2f} / {:.2f} ms", 1000),
    ("power (facility)", "power_kw", "{:,.1f} kW"),
    ("fleet cost", "cost_usd_per_hour", "${:,.2f} / h"),
    ("cost per Mtok", "cost_usd_per_mtok", "${:.3f}"),
    ("  95 % interval", ("cost_usd_per_mtok_ci_low", "cost_usd_per_mtok_ci_high"), "${:.3f} to ${:.3f}"),
    ("  model error", "model_error_pct", "about +-{:.0f} % (the median error of the performance model on its generation's measurements)"),
    ("cost per SLO-met Mtok", "cost_usd_per_slo_met_mtok", "${:.3f}"),
    ("per-request p50 / p90", ("cost_usd_per_mtok_p50", "cost_usd_per_mtok_p90"), "${:.3f} / ${:.3f} per Mtok"),
    ("tokens/s per MW", ("tok_s_per_mw_provisioned", "tok_s_per_mw_drawn"), "{:,.0f} provisioned / {:,.0f} drawn"),
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


def check_output(output: OutputConfig) -> None:
    """Refuse an output option that would fail after the simulation, before it starts."""
    if output.requests_format not in REQUEST_FORMATS:
        raise ConfigError(f"output.requests_format={output.requests_format!r} is not a format: use one of {', '.join(REQUEST_FORMATS)}")


def write_requests(out_dir: Path, columns: dict[str, np.ndarray], output: OutputConfig) -> Path:
    """The per-request table: ``requests.csv``, or ``requests.parquet`` with ``output.requests_format=parquet``
    or, with ``auto``, beyond ``output.parquet_above_requests`` requests (a CSV of a million requests is
    about 200 MB; the Parquet file a fraction of it, and typed)."""
    rows = len(next(iter(columns.values()))) if columns else 0
    fmt = output.requests_format
    if fmt == "parquet" or (fmt == "auto" and rows > output.parquet_above_requests):
        path = out_dir / "requests.parquet"
        write_parquet(path, columns)
    else:
        path = out_dir / "requests.csv"
        write_table(path, columns)
    return path


def write_parquet(path: Path, columns: dict[str, np.ndarray]) -> None:
    """A Parquet file with one column per array (atomically; same data, same bytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({name: pa.array(values.tolist() if values.dtype.kind == "U" else values) for name, values in columns.items()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def measured_requests(columns: dict[str, np.ndarray], metrics: dict) -> np.ndarray:
    """Per request: one the metrics count, completed (in the steady-state window, if the run was measured in one)."""
    done = columns["status"] == "completed"
    if metrics.get("steady_state"):
        done &= completed_in(columns["finish_s"], (metrics["warmup_s"], metrics["warmup_s"] + metrics["measured_s"]))
    return done


def write_latency_quantiles(path: Path, columns: dict[str, np.ndarray], metrics: dict) -> None:
    """``latency_quantiles.json``: TTFT, TPOT and end-to-end latency at :data:`LATENCY_PERCENTILES` over the
    completed requests the metrics count (the steady-state window, if any): a study draws its latency
    distributions from these without reading every request table."""
    done = measured_requests(columns, metrics)
    table: dict[str, list] = {"percentile": list(LATENCY_PERCENTILES)}
    for key in ("ttft_s", "tpot_s", "e2e_s"):
        values = columns[key][done]
        values = values[np.isfinite(values)]
        table[key] = np.percentile(values, LATENCY_PERCENTILES).tolist() if values.size else []
    atomic_write_text(path, json.dumps(table) + "\n")


def summary_text(metrics: dict, title: str) -> str:
    lines = [title, "-" * len(title)]
    for row in SUMMARY_ROWS:
        label, keys, fmt = row[:3]
        scale = row[3] if len(row) > 3 else 1
        keys = keys if isinstance(keys, tuple) else (keys,)
        values = [metrics.get(k, float("nan")) for k in keys]
        if label.strip() == "model error" and values[0] is None:
            continue  # the calibration does not say
        values = [v * scale if k.startswith(("tpot", "kv_transfer")) else v for k, v in zip(keys, values)]
        text = fmt.format(*values)
        if label == "measured" and not metrics.get("steady_state"):
            text = f"the whole run, {metrics.get('measured_s', float('nan')):.1f} s (fill and drain included)"
        if label.strip() == "model error" and not metrics.get("model_calibrated"):
            text = f"uncalibrated: expect about +-{metrics['model_error_pct']:.0f} % ({metrics.get('model_error_basis', 'not measured')}: the cross-validated error)"
        lines.append(f"{label:<28}{text}")
    if metrics.get("measurement_warning"):
        lines.append(f"warning: {metrics['measurement_warning']}")
    return "\n".join(lines)


def write_figure(path: Path, columns: dict[str, np.ndarray], title: str, metrics: dict) -> None:
    """Latency CDFs (TTFT, TPOT, end to end) and the per-request cost distribution of the requests the metrics
    count (the steady-state window's), PNG at ``path``."""
    with figures.style():
        _draw_figure(path, columns, title, metrics)


def _draw_figure(path: Path, columns: dict[str, np.ndarray], title: str, metrics: dict) -> None:
    done = measured_requests(columns, metrics)
    fig, axes = figures.pyplot().subplots(1, 4, figsize=(16, 3.8))
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
    if metrics.get("steady_state"):
        start_s = metrics["warmup_s"]
        which = (f"the {int(done.sum()):,} of {done.size:,} requests completed in the steady-state window, "
                 f"{start_s:,.1f} s to {start_s + metrics['measured_s']:,.1f} s (the window of the rates and latencies in metrics.json)")
    else:
        which = f"every completed request ({int(done.sum()):,} of {done.size:,}), fill and drain included"
    fig.suptitle(f"{title}\n{which}")
    figures.save(fig, path.with_suffix(""), formats=(path.suffix.lstrip("."),))
