"""What one run simulates: the fleet built from its configuration and checked, before any event.

:func:`build` turns the configuration into a :class:`Deployment` (platform, model, precision, its pools of
workers placed on the fabric with their performance models and memory budgets, the estimated capacity)
and raises :class:`ConfigError` for anything that cannot be simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.base.config import ConfigError, SimConfig, WorkerConfig, calibrated, check_bounds
from sim.economics.cost import validate_cost
from sim.network.collectives import Collectives
from sim.serving.capacity import estimate_worker_capacity_rps
from sim.serving.defaults import unused_capacity, with_default_layout
from sim.serving.fleet import WorkerMemory, check_fits, placed_models, validate_layout
from sim.serving.perf import PerformanceModel
from sim.serving.speculative import Speculation
from sim.serving.workload import max_length, mean_length, validate_workload
from sim.spec.model import ModelArch, validate_model
from sim.spec.platform import Platform
from sim.spec.precision import Precision
from sim.run.uncertainty import apply_uncertainty


@dataclass(frozen=True)
class Pool:
    """Workers of one layout and role: ``aggregated`` (prefill and decode), ``prefill`` or ``decode``."""

    role: str
    layout: WorkerConfig
    workers: int
    perf: PerformanceModel  # of the workers placed like the first
    memory: WorkerMemory
    gpus: tuple[tuple[int, ...], ...]  # of each worker, fleet-wide
    collectives: tuple[Collectives, ...]  # of each worker, where it was placed
    placed_otherwise: dict[int, PerformanceModel]  # the models of workers whose collectives differ from the first's


@dataclass(frozen=True)
class Deployment:
    """A fleet built from its configuration and checked, ready to simulate."""

    cfg: SimConfig
    platform: Platform
    model: ModelArch
    precision: Precision
    spec: Speculation
    pools: tuple[Pool, ...]  # (aggregated,) or (prefill, decode)
    gpus: int  # all GPUs of the fleet, idle leftovers of whole racks included
    capacity_rps: float  # estimated saturated throughput of the fleet, requests/s
    kv_bytes_per_token: float  # disaggregated: KV-cache bytes of one prompt token, moved to a decode worker
    sampled: dict[str, float]  # the uncertain inputs' values of this run (by input name)
    warnings: tuple[str, ...] = ()  # settings that cost money without failing (sim.serving.defaults)

    @property
    def perf(self) -> PerformanceModel:
        return self.pools[-1].perf

    @property
    def memory(self) -> WorkerMemory:
        return self.pools[-1].memory

    @property
    def workers(self) -> int:
        return sum(pool.workers for pool in self.pools)


def build(cfg: SimConfig) -> Deployment:
    """Check the configuration and build the deployment; :class:`ConfigError` says what to fix."""
    check_bounds(cfg)  # before the calibration fills the efficiency factors in, so a message names what the user set
    cfg = calibrated(cfg)
    cfg, sampled = apply_uncertainty(cfg)  # after the calibration: a relative efficiency scales the fitted one
    platform = Platform.from_config(cfg.platform)
    validate_model(cfg.model)
    model = ModelArch(cfg.model)
    precision = Precision.from_config(cfg.precision)
    platform.peak_flops(precision.compute_dtype)  # FP4 asked of a GPU without FP4 tensor cores
    validate_workload(cfg.workload)
    validate_cost(cfg.cost, platform)
    spec = Speculation(cfg.engine.speculative)
    cfg = with_default_layout(cfg, platform, model, precision, spec)  # worker.tp=0: the documented rule
    if cfg.workload.arrival == "closed_loop" and cfg.fleet.max_queue_per_worker:
        raise ConfigError(
            "fleet.max_queue_per_worker drops open-loop traffic; closed-loop clients never exceed their "
            "concurrency, so set fleet.max_queue_per_worker=0 (or use a poisson workload)"
        )
    counts = validate_layout(platform, model, cfg.worker, cfg.prefill_worker, cfg.engine, cfg.fleet)
    wl = cfg.workload
    longest = max_length(wl.input_tokens, wl.length_dist, wl.lognormal_sigma) + max_length(
        wl.output_tokens, wl.length_dist, wl.lognormal_sigma
    )
    if longest > model.cfg.max_context_tokens:
        raise ConfigError(
            f"the workload's longest request ({longest} tokens in + out) exceeds the {model.cfg.max_context_tokens}-token "
            f"context of {model.name}; shorten workload.input_tokens / workload.output_tokens or choose another model"
        )
    mean_in = mean_length(wl.input_tokens, wl.length_dist, wl.lognormal_sigma)
    mean_out = mean_length(wl.output_tokens, wl.length_dist, wl.lognormal_sigma)

    def pool(role: str, layout: WorkerConfig, workers: int, longest_tokens: int, first: int) -> Pool:
        memory = check_fits(platform, model, precision, layout, cfg.engine, longest_tokens)
        gpus = counts.placement.workers[first : first + workers]
        collectives, perf, otherwise = placed_models(platform, model, precision, layout, cfg.perf, spec if role != "prefill" else None, gpus)
        return Pool(role, layout, workers, perf, memory, gpus, collectives, otherwise)

    if counts.disaggregated:
        prefill = pool("prefill", cfg.prefill_worker, counts.prefill_workers, max_length(wl.input_tokens, wl.length_dist, wl.lognormal_sigma), 0)
        decode = pool("decode", cfg.worker, counts.workers, longest, counts.prefill_workers)
        pools = (prefill, decode)
        prefill_rps = prefill.workers * estimate_worker_capacity_rps(
            prefill.perf, cfg.engine, prefill.memory.kv_capacity_tokens, prefill.memory.kv_fixed_tokens, mean_in, 1.0
        )
        decode_rps = decode.workers * estimate_worker_capacity_rps(
            decode.perf, cfg.engine, decode.memory.kv_capacity_tokens, decode.memory.kv_fixed_tokens, mean_in, mean_out,
            spec.mean_tokens, prefill=False,
        )
        capacity_rps = min(prefill_rps, decode_rps)
    else:
        pools = (pool("aggregated", cfg.worker, counts.workers, longest, 0),)
        mem = pools[0].memory
        capacity_rps = counts.workers * estimate_worker_capacity_rps(
            pools[0].perf, cfg.engine, mem.kv_capacity_tokens, mem.kv_fixed_tokens, mean_in, mean_out, spec.mean_tokens
        )
    kv_bytes = model.kv_bytes_per_token(precision.kv_dtype)
    serving = pools[-1]
    unused = unused_capacity(serving.role, serving.layout.tp, platform.name, serving.perf, serving.memory,
                             spec, cfg, serving.workers) if cfg.perf.kind == "roofline" else None
    return Deployment(cfg, platform, model, precision, spec, pools, counts.gpus, capacity_rps, kv_bytes, sampled,
                      (unused,) if unused else ())
