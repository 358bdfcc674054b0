"""What one run simulates: the fleet built from its configuration and checked, before any event.

:func:`build` turns the configuration into a :class:`Deployment` (platform, model, precision, its pools of
workers placed on the fabric with their performance models and memory budgets, the estimated capacity)
in three steps, each a function of this module, and raises :class:`ConfigError` for anything that cannot
be simulated:

1. :func:`resolve_defaults`: what the configuration leaves out is filled in: the calibration's efficiency
   factors, this run's values of a study's uncertain inputs, and the worker sizes left at 0 (the cheapest
   worker at the workload's SLO, ``sim.serving.defaults``). The rule for those sizes reads the platform,
   model, precision and workload, so they are read here, and each is refused if it contradicts itself
   (before anything is filled in, the numbers' ranges the schema declares are checked on the values the
   user set).
2. :func:`check`: everything the schema cannot declare about how the parts fit together, in one pass:
   the cost priced for the platform, the queue limit for the arrivals, the layouts on the fleet, the
   longest request in the model's context and in each worker's memory. It returns the fleet's plan.
3. :func:`construct`: the plan's pools placed on the fabric with their performance models, the fleet's
   estimated capacity, and the warnings of settings that cost money without failing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.base.config import ConfigError, SimConfig, WorkerConfig, check_bounds
from sim.economics.cost import validate_cost
from sim.network.collectives import Collectives
from sim.run.uncertainty import apply_uncertainty
from sim.serving.capacity import attention_ranks, estimate_worker_capacity_rps
from sim.serving.defaults import unused_capacity, with_default_layout
from sim.serving.fleet import Pools, WorkerMemory, check_fits, placed_models, validate_layout, validate_perf_kind
from sim.serving.perf import PerformanceModel
from sim.serving.speculative import Speculation
from sim.serving.workload import max_length, mean_length, validate_workload
from sim.spec.efficiency import calibrated
from sim.spec.model import ModelArch, validate_model
from sim.spec.platform import Platform
from sim.spec.precision import Precision


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


@dataclass(frozen=True)
class Parts:
    """What the configuration names, read: the platform, the model, the precision and the speculation."""

    platform: Platform
    model: ModelArch
    precision: Precision
    spec: Speculation


@dataclass(frozen=True)
class PoolPlan:
    """A pool as checked, before it is placed: its role, layout, workers, first worker's index, memory."""

    role: str
    layout: WorkerConfig
    workers: int
    first: int  # the fleet-wide index of its first worker (prefill workers come first)
    memory: WorkerMemory


@dataclass(frozen=True)
class Plan:
    """The fleet as checked: its counts and placement, and its pools (aggregated, or prefill and decode)."""

    counts: Pools
    pools: tuple[PoolPlan, ...]


def build(cfg: SimConfig) -> Deployment:
    """Check the configuration and build the deployment; :class:`ConfigError` says what to fix."""
    cfg, parts, sampled = resolve_defaults(cfg)
    plan = check(cfg, parts)
    return construct(cfg, parts, plan, sampled)


def resolve_defaults(cfg: SimConfig) -> tuple[SimConfig, Parts, dict[str, float]]:
    """Step 1: ``cfg`` with what it leaves out filled in, what it names read, and this run's uncertain inputs."""
    check_bounds(cfg)  # before the calibration fills the efficiency factors in, so a message names what the user set
    cfg = calibrated(cfg)
    cfg, sampled = apply_uncertainty(cfg)  # after the calibration: a relative efficiency scales the fitted one
    parts = read_parts(cfg)
    cfg = with_default_layout(cfg, parts.platform, parts.model, parts.precision, parts.spec)  # worker.tp=0: the documented rule
    return cfg, parts, sampled


def read_parts(cfg: SimConfig) -> Parts:
    """The platform, model, precision, workload and speculation ``cfg`` names, each refused if it contradicts
    itself (the default worker size reads them all)."""
    platform = Platform.from_config(cfg.platform)
    validate_model(cfg.model)
    model = ModelArch(cfg.model)
    precision = Precision.from_config(cfg.precision)
    platform.peak_flops(precision.compute_dtype)  # FP4 asked of a GPU without FP4 tensor cores
    validate_workload(cfg.workload)
    return Parts(platform, model, precision, Speculation(cfg.engine.speculative))


def check(cfg: SimConfig, parts: Parts) -> Plan:
    """Step 2: everything the schema cannot declare about how the resolved parts fit together, in one pass."""
    platform, model, precision = parts.platform, parts.model, parts.precision
    validate_cost(cfg.cost, platform)
    if cfg.workload.arrival == "closed_loop" and cfg.fleet.max_queue_per_worker:
        raise ConfigError(
            "fleet.max_queue_per_worker drops open-loop traffic; closed-loop clients never exceed their "
            "concurrency, so set fleet.max_queue_per_worker=0 (or use a poisson workload)"
        )
    counts = validate_layout(platform, model, cfg.worker, cfg.prefill_worker, cfg.engine, cfg.fleet)
    wl = cfg.workload
    longest_in = max_length(wl.input_tokens, wl.length_dist, wl.lognormal_sigma)
    longest = longest_in + max_length(wl.output_tokens, wl.length_dist, wl.lognormal_sigma)
    if longest > model.cfg.max_context_tokens:
        raise ConfigError(
            f"the workload's longest request ({longest} tokens in + out) exceeds the {model.cfg.max_context_tokens}-token "
            f"context of {model.name}; shorten workload.input_tokens / workload.output_tokens or choose another model"
        )
    if counts.disaggregated:  # (role, layout, workers, the longest request it holds, its first worker)
        pools = [("prefill", cfg.prefill_worker, counts.prefill_workers, longest_in, 0),
                 ("decode", cfg.worker, counts.workers, longest, counts.prefill_workers)]
    else:
        pools = [("aggregated", cfg.worker, counts.workers, longest, 0)]
    plans = tuple(PoolPlan(role, layout, workers, first, check_fits(platform, model, precision, layout, cfg.engine, tokens))
                  for role, layout, workers, tokens, first in pools)
    validate_perf_kind(cfg.perf)
    return Plan(counts, plans)


def construct(cfg: SimConfig, parts: Parts, plan: Plan, sampled: dict[str, float]) -> Deployment:
    """Step 3: the plan's pools placed with their performance models, the fleet's capacity, the warnings."""
    platform, model, precision, spec = parts.platform, parts.model, parts.precision, parts.spec

    def place(p: PoolPlan) -> Pool:
        gpus = plan.counts.placement.workers[p.first : p.first + p.workers]
        collectives, perf, otherwise = placed_models(platform, model, precision, p.layout, cfg.perf, spec if p.role != "prefill" else None, gpus)
        return Pool(p.role, p.layout, p.workers, perf, p.memory, gpus, collectives, otherwise)

    pools = tuple(place(p) for p in plan.pools)
    kv_bytes = model.kv_bytes_per_token(precision.kv_dtype)
    serving = pools[-1]
    unused = unused_capacity(serving.role, serving.layout.tp, platform.name, serving.perf, serving.memory,
                             spec, cfg, serving.workers, attention_ranks(serving.layout)) if cfg.perf.kind == "roofline" else None
    return Deployment(cfg, platform, model, precision, spec, pools, plan.counts.gpus, capacity_rps(cfg, spec, pools), kv_bytes,
                      sampled, (unused,) if unused else ())


def capacity_rps(cfg: SimConfig, spec: Speculation, pools: tuple[Pool, ...]) -> float:
    """The fleet's estimated saturated throughput, requests/s: a disaggregated fleet's, its slower pool's."""
    wl = cfg.workload
    mean_in = mean_length(wl.input_tokens, wl.length_dist, wl.lognormal_sigma)
    mean_out = mean_length(wl.output_tokens, wl.length_dist, wl.lognormal_sigma)
    if len(pools) == 2:
        prefill, decode = pools
        prefill_rps = prefill.workers * estimate_worker_capacity_rps(
            prefill.perf, cfg.engine, prefill.memory.kv_capacity_tokens, prefill.memory.kv_fixed_tokens, mean_in, 1.0,
            ranks=attention_ranks(prefill.layout),
        )
        decode_rps = decode.workers * estimate_worker_capacity_rps(
            decode.perf, cfg.engine, decode.memory.kv_capacity_tokens, decode.memory.kv_fixed_tokens, mean_in, mean_out,
            spec.mean_tokens, prefill=False, ranks=attention_ranks(decode.layout),
        )
        return min(prefill_rps, decode_rps)
    (pool,) = pools
    return pool.workers * estimate_worker_capacity_rps(
        pool.perf, cfg.engine, pool.memory.kv_capacity_tokens, pool.memory.kv_fixed_tokens, mean_in, mean_out, spec.mean_tokens,
        ranks=attention_ranks(pool.layout),
    )
