"""Defaults that do not quietly cost money: the worker size a run gets when it names none, and the warning
for a batch limit that leaves most of a worker's memory unused.

**The default worker** (``worker.tp=0``, the default): among workers of 1, 2, 4 and 8 GPUs (no more than
the scale-up domain; when none of them holds the model, the largest, whose fit check then says which
``tp`` would), each a replica with
its experts spread over the worker and tensor-parallel attention, the one the performance model expects
to serve the most requests per second *per GPU* when saturated (the estimate behind
``workload.load_fraction``), among those whose estimated time per output token at the workload's load
(the decode batch that load keeps busy by Little's law, or the clients of a closed loop) meets the
workload's TPOT limit; if none does, the one with the shortest. This is the cheapest worker at the SLO by the
model's own estimate: a fixed ``tp=8`` made Llama-3-70B on H100 cost 1.8 times what ``tp=2`` costs. A
disaggregated fleet's prefill workers (``prefill_worker.tp=0``) get the smallest worker that holds the
model and the longest prompt.

**The warning**: a worker whose KV cache holds four times more of the workload's requests than
``engine.max_batch_size`` lets in flight, and which the performance model expects to meet the workload's
TPOT limit with a batch four times larger, leaves most of its throughput unused under load (a 72-GPU
wide expert-parallel worker capped at 256 requests delivered a fifth of what it could).
"""

from __future__ import annotations

from dataclasses import replace

from sim.base.config import ConfigError, EngineConfig, SimConfig, WorkerConfig
from sim.serving.capacity import estimate_worker_capacity_rps
from sim.serving.fleet import build_perf_model, check_fits, validate_worker
from sim.serving.speculative import Speculation
from sim.serving.workload import max_length, mean_length
from sim.spec.model import ModelArch
from sim.spec.platform import Platform
from sim.spec.precision import Precision

#: A batch limit this many times below what the KV cache holds draws the warning.
UNUSED_FACTOR = 4.0


def _sizes(platform: Platform) -> list[int]:
    return [tp for tp in (1, 2, 4, 8) if tp <= platform.scaleup_domain_gpus] or [1]


def default_tp(cfg: SimConfig, platform: Platform, model: ModelArch, precision: Precision, spec: Speculation) -> int:
    """The decode (or aggregated) worker size of the rule above; ``cfg`` is calibrated."""
    wl = cfg.workload
    mean_in = mean_length(wl.input_tokens, wl.length_dist, wl.lognormal_sigma)
    mean_out = mean_length(wl.output_tokens, wl.length_dist, wl.lognormal_sigma)
    longest = max_length(wl.input_tokens, wl.length_dist, wl.lognormal_sigma) + max_length(wl.output_tokens, wl.length_dist, wl.lognormal_sigma)
    options = []  # (meets the TPOT limit, requests/s per GPU, -TPOT, -tp)
    for tp in _sizes(platform):
        worker = WorkerConfig(tp=tp, ep=0, dp_attn=False)
        try:
            validate_worker(model, worker)
            memory = check_fits(platform, model, precision, worker, cfg.engine, longest)
        except ConfigError:
            continue
        perf = build_perf_model(platform, model, precision, worker, cfg.perf, spec)
        rps = estimate_worker_capacity_rps(perf, cfg.engine, memory.kv_capacity_tokens, memory.kv_fixed_tokens, mean_in, mean_out,
                                           spec.mean_tokens)
        full = saturated_batch(cfg.engine, memory.kv_capacity_tokens, memory.kv_fixed_tokens, mean_in, mean_out)
        workers = cfg.fleet.workers or max(1, (cfg.fleet.racks * platform.gpus_per_rack) // tp)
        if wl.arrival == "closed_loop":
            batch = int(min(full, max(1, wl.concurrency // workers)))
        else:  # Little's law: the decode batch is the arrival rate times a request's decode time, at that batch
            rate = wl.load_fraction * rps if wl.rate_rps is None else wl.rate_rps / workers
            batch = full
            for _ in range(20):
                batch = int(min(full, max(1.0, rate * mean_out * _tpot_at(perf, cfg.engine, batch, mean_in, mean_out, spec))))
        tpot = _tpot_at(perf, cfg.engine, batch, mean_in, mean_out, spec)
        options.append((tpot <= wl.slo.tpot_s, rps / tp, -tpot, -tp))
    if not options:
        return _sizes(platform)[-1]  # nothing fits: the fit check of the largest says which tp would
    if not any(meets for meets, *_ in options):
        return -max(options, key=lambda o: o[2])[3]  # none meets the limit: the quickest
    return -max(options)[3]


def saturated_batch(engine: EngineConfig, kv_tokens: float, kv_fixed: float, mean_in: float, mean_out: float) -> int:
    """The decode batch of a saturated worker: the batch limit or the average requests its KV cache holds."""
    return int(max(1.0, min(engine.max_batch_size, kv_tokens / (mean_in + mean_out / 2 + kv_fixed))))


def _tpot_at(perf, engine: EngineConfig, batch: int, mean_in: float, mean_out: float, spec: Speculation) -> float:
    """Time per output token with a decode batch of ``batch``: its decode iterations, plus the prompts of
    the batch's successors prefilled while it decodes."""
    decode_s = perf.iteration_time_s(0, 0.0, 0.0, batch, batch * (mean_in + mean_out / 2))
    chunk = max(1, min(engine.max_tokens_per_iteration, int(mean_in)))
    prefill_s = perf.iteration_time_s(chunk, chunk * mean_in / 2, mean_in / 2, batch, batch * (mean_in + mean_out / 2)) - decode_s
    per_request_prefill_s = prefill_s * mean_in / chunk
    return (mean_out / spec.mean_tokens * decode_s + batch * per_request_prefill_s) / mean_out


def smallest_fitting_tp(cfg: SimConfig, platform: Platform, model: ModelArch, precision: Precision, worker: WorkerConfig) -> int:
    """The smallest power-of-two worker, in ``worker``'s layout, holding the model and the longest prompt."""
    wl = cfg.workload
    for tp in _sizes(platform):
        candidate = replace(worker, tp=tp, ep=0)
        try:
            validate_worker(model, candidate, "prefill_worker")
            check_fits(platform, model, precision, candidate, cfg.engine, max_length(wl.input_tokens, wl.length_dist, wl.lognormal_sigma))
        except ConfigError:
            continue
        return tp
    return 0


def with_default_layout(cfg: SimConfig, platform: Platform, model: ModelArch, precision: Precision, spec: Speculation) -> SimConfig:
    """``cfg`` with every worker size left at 0 chosen by the rule (``cfg`` calibrated)."""
    if cfg.worker.tp == 0:
        cfg = replace(cfg, worker=replace(cfg.worker, tp=default_tp(cfg, platform, model, precision, spec)))
    if cfg.fleet.prefill_workers and cfg.prefill_worker.tp == 0:
        tp = smallest_fitting_tp(cfg, platform, model, precision, cfg.prefill_worker) or _sizes(platform)[-1]
        cfg = replace(cfg, prefill_worker=replace(cfg.prefill_worker, tp=tp))
    return cfg


def unused_capacity(role: str, tp: int, platform_name: str, perf, memory, spec: Speculation, cfg: SimConfig, workers: int,
                    ranks: int = 1) -> str | None:
    """The warning for a worker whose batch limit (per attention rank, times its ``ranks``) leaves most of its KV
    cache unused under load, when a batch at least four times larger would still meet the workload's TPOT limit."""
    wl, cap = cfg.workload, cfg.engine.max_batch_size * ranks
    mean_in = mean_length(wl.input_tokens, wl.length_dist, wl.lognormal_sigma)
    mean_out = mean_length(wl.output_tokens, wl.length_dist, wl.lognormal_sigma)
    held = int(memory.kv_capacity_tokens / (mean_in + mean_out / 2 + memory.kv_fixed_tokens))
    if held < UNUSED_FACTOR * cap or (wl.arrival == "closed_loop" and wl.concurrency <= cap * workers):
        return None  # the limit is near what fits, or the clients never fill it

    def tpot(batch: int) -> float:
        return _tpot_at(perf, cfg.engine, batch, mean_in, mean_out, spec)

    lo, hi = cap, held  # the largest batch whose time per output token meets the SLO
    if tpot(hi) > wl.slo.tpot_s:
        while hi - lo > max(1, lo // 50):
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if tpot(mid) <= wl.slo.tpot_s else (lo, mid)
        usable = lo
    else:
        usable = hi
    if usable < UNUSED_FACTOR * cap:
        return None
    per_rank = f" per attention rank ({ranks} ranks)" if ranks > 1 else ""
    return (f"engine.max_batch_size={cfg.engine.max_batch_size}{per_rank} caps each {role} worker of {tp} x {platform_name} at {cap} requests in flight, but its "
            f"KV cache holds about {held:,} of this workload's requests and about {usable:,} would still meet its "
            f"{1000 * wl.slo.tpot_s:g} ms time per output token: under load most of its throughput goes unused; raise "
            f"engine.max_batch_size or use smaller workers")
