"""Summaries of a run: the scalar metrics of ``metrics.json``, with units in their names, and what the
run simulated (platform, model, precision, layout, workload, cost), so any table of runs describes itself.

Throughput counts input plus output tokens of completed requests over the measured time: the
steady-state window (``sim/run/measurement.py``), or with ``workload.steady_state=false`` the simulated
time (``sim_time_s``, from 0 to the end of the run, drain included). Latency percentiles are over completed
requests. TPOT is a request's mean time per output token after the first. A request meets the SLO if it
completed within both limits; ``slo_attainment`` is over every request that arrived (dropped and
unfinished ones miss it).

With ``workload.steady_state`` every figure here covers the requests completed in the measurement
window (after the warm-up, up to the last arrival), and rates are over its length (``measured_s``);
``requests_arrived`` and the SLO attainment count the same requests, and the requests dropped on
arrival in the window (in a closed loop nothing is dropped or left behind in steady state)."""

from __future__ import annotations

import numpy as np

from sim.base.config import SimConfig, SloConfig
from sim.run.measurement import completed_in
from sim.serving.requests import RequestTable, Status

#: Keys every ``metrics.json`` holds (more may follow).
REQUIRED_KEYS = (
    "requests_completed", "input_tokens", "output_tokens", "gpus", "sim_time_s", "wall_time_s", "events",
    "throughput_tok_s", "output_tok_s", "tput_per_gpu_tok_s", "ttft_s_p50", "ttft_s_p99", "tpot_s_p50",
    "tpot_s_p99", "e2e_s_p50", "e2e_s_p99", "interactivity_tok_s_user", "interactivity_p50_tok_s_user",
    "slo_attainment", "goodput_tok_s", "power_kw", "cost_usd_per_hour", "cost_usd_per_mtok", "cost_usd_per_mtok_p50",
    "cost_usd_per_mtok_p90", "tok_s_per_mw_provisioned", "tok_s_per_mw_drawn",
)


#: Keys naming what a run simulated (strings and counts), ahead of its figures in ``metrics.json``.
IDENTITY_KEYS = ("platform", "model", "precision", "layout", "racks", "workload", "cost", "calibration", "uncertainty", "seed")


def layout_text(cfg: SimConfig) -> str:
    """The workers' layout in a few words, e.g. ``tp8 ep8`` or ``prefill 2 x tp4 dp_attn + decode tp8 ep8``."""

    def one(worker) -> str:
        return f"tp{worker.tp} ep{worker.ep or worker.tp}" + (" dp_attn" if worker.dp_attn else "")

    spec = cfg.engine.speculative
    mtp = f" mtp{spec.draft_tokens}" if spec.method == "mtp" else ""
    if not cfg.fleet.prefill_workers:
        return one(cfg.worker) + mtp
    return f"prefill {cfg.fleet.prefill_workers} x {one(cfg.prefill_worker)} + decode {one(cfg.worker)}{mtp}"


def identity(cfg: SimConfig) -> dict:
    """What the run simulated, by name: the keys of :data:`IDENTITY_KEYS`."""
    return {
        "platform": cfg.platform.name,
        "model": cfg.model.name,
        "precision": cfg.precision.name,
        "layout": layout_text(cfg),
        "racks": cfg.fleet.racks,
        "workload": cfg.workload.name,
        "cost": cfg.cost.name if cfg.cost.mode == "tco" else f"{cfg.cost.name} ({cfg.cost.preset})",
        "calibration": cfg.calibration.name,
        "uncertainty": cfg.uncertainty.name,
        "seed": cfg.seed,
    }


def percentile(values: np.ndarray, q: float) -> float:
    """The q-th percentile of the finite values (NaN if there are none)."""
    finite = values[np.isfinite(values)]
    return float(np.percentile(finite, q)) if finite.size else float("nan")


def slo_met(requests: RequestTable, slo: SloConfig) -> np.ndarray:
    """Per request: completed with TTFT and TPOT within the limits (one-token requests: TTFT only)."""
    ttft = requests.first_token_s - requests.arrival_s
    tpot = requests.tpot_s()
    with np.errstate(invalid="ignore"):
        tpot_ok = np.isnan(tpot) | (tpot <= slo.tpot_s)
        return (requests.status == Status.COMPLETED) & (ttft <= slo.ttft_s) & tpot_ok


def latency_and_tokens(
    requests: RequestTable, slo: SloConfig, sim_time_s: float, gpus: int, window_s: tuple[float, float] | None = None
) -> dict[str, float]:
    """Token counts, throughput and latency percentiles of a run, or of the requests completed within
    ``window_s`` (steady state: throughput is their tokens over the window's length)."""
    done = requests.status == Status.COMPLETED
    arrived = requests.status != Status.NOT_ARRIVED
    duration_s = sim_time_s
    if window_s is not None:
        start_s, end_s = window_s
        done &= completed_in(requests.finish_s, window_s)
        with np.errstate(invalid="ignore"):
            dropped = (requests.status == Status.DROPPED) & (requests.arrival_s >= start_s) & (requests.arrival_s <= end_s)
        arrived = done | dropped  # steady state: the requests completed in the window, and those it turned away
        duration_s = end_s - start_s
    tokens = requests.input_tokens + requests.output_tokens
    ttft = (requests.first_token_s - requests.arrival_s)[done]
    e2e = (requests.finish_s - requests.arrival_s)[done]
    tpot = requests.tpot_s()[done]
    met = slo_met(requests, slo) & done
    input_tokens = int(requests.input_tokens[done].sum())
    output_tokens = int(requests.output_tokens[done].sum())
    throughput = (input_tokens + output_tokens) / duration_s if duration_s > 0 else 0.0
    tpot_p50 = percentile(tpot, 50)
    tpot_mean = float(tpot[np.isfinite(tpot)].mean()) if np.isfinite(tpot).any() else float("nan")
    return {
        "requests_total": int(requests.n),
        "requests_arrived": int(arrived.sum()),
        "requests_completed": int(done.sum()),
        "requests_dropped": int((requests.status == Status.DROPPED).sum()),
        "requests_in_flight": int(((requests.status == Status.QUEUED) | (requests.status == Status.RUNNING)).sum()),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "gpus": gpus,
        "sim_time_s": sim_time_s,
        "measured_s": duration_s,
        "throughput_tok_s": throughput,
        "output_tok_s": output_tokens / duration_s if duration_s > 0 else 0.0,
        "tput_per_gpu_tok_s": throughput / gpus,
        "ttft_s_mean": float(ttft.mean()) if ttft.size else float("nan"),
        "ttft_s_p50": percentile(ttft, 50),
        "ttft_s_p99": percentile(ttft, 99),
        "tpot_s_mean": tpot_mean,
        "tpot_s_p50": tpot_p50,
        "tpot_s_p99": percentile(tpot, 99),
        "e2e_s_mean": float(e2e.mean()) if e2e.size else float("nan"),
        "e2e_s_p50": percentile(e2e, 50),
        "e2e_s_p99": percentile(e2e, 99),
        "interactivity_tok_s_user": 1.0 / tpot_mean if tpot_mean > 0 else float("nan"),
        "interactivity_p50_tok_s_user": 1.0 / tpot_p50 if tpot_p50 > 0 else float("nan"),
        "slo_attainment": float(met.sum() / arrived.sum()) if arrived.any() else float("nan"),
        "goodput_tok_s": float(tokens[met].sum()) / duration_s if duration_s > 0 else 0.0,
        "preemptions": int(requests.preemptions.sum()),
        "recomputed_tokens": int(requests.recomputed_tokens.sum()),
    }
