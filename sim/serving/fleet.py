"""The fleet: racks of one platform carved into workers, and the memory each worker has for KV cache.

``fleet.racks`` racks of ``platform.gpus_per_rack`` GPUs are cut into workers of ``worker.tp`` GPUs
each (GPUs left over are powered and paid for but serve nothing), or ``fleet.workers`` gives the
number of workers outright (the fleet is then exactly their GPUs). With ``fleet.prefill_workers`` the
fleet is disaggregated: that many prefill-only workers of ``prefill_worker.tp`` GPUs, the rest decode
workers. A worker holds one model replica:
its HBM, less the engine's headroom, less the weights, less an activation reserve, is KV cache.
Whether the model fits, and whether the longest request fits in the cache, is checked here, before any
simulation runs. The workers are placed on the GPUs of the fleet's scale-up domains
(:mod:`sim.network.placement`), which decides the links their collectives cross.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sim.base.bounds import run_estimate
from sim.base.config import ConfigError, EngineConfig, FleetConfig, PerfConfig, WorkerConfig
from sim.network.collectives import Collectives
from sim.network.placement import Placement, check_width, place, place_fleet
from sim.serving.constant_perf import ConstantPerf
from sim.serving.perf import PerformanceModel, RooflinePerf
from sim.serving.speculative import Speculation
from sim.spec.model import ModelArch
from sim.spec.platform import Platform
from sim.spec.precision import Precision

#: The largest fleet a run may build: an engine per worker costs about 2 kB and 30 us to create.
MAX_WORKERS, MAX_GPUS = 100_000, 1_000_000


@dataclass(frozen=True)
class WorkerMemory:
    """HBM budget of one GPU of a worker, in bytes, and the KV cache it leaves, in tokens."""

    usable_bytes_per_gpu: float
    weight_bytes_per_gpu: float
    activation_bytes_per_gpu: float
    kv_bytes_per_gpu: float
    kv_bytes_per_token_per_gpu: float
    kv_capacity_tokens: float  # context tokens the worker's cache holds
    kv_fixed_tokens: float  # sliding-window cache reserved per request, in the same token units


def heads_split_evenly(model: ModelArch, tp: int) -> bool:
    """Can ``tp`` ranks share the attention heads (and, for GQA, the KV heads) evenly?"""
    kv_heads = model.cfg.kv_heads
    return model.cfg.q_heads % tp == 0 and (model.is_mla or kv_heads % tp == 0 or tp % kv_heads == 0)


def worker_memory(platform: Platform, model: ModelArch, precision: Precision, worker: WorkerConfig, engine: EngineConfig) -> WorkerMemory:
    """Memory budget of one GPU of a worker: routed experts spread over its ``tp`` GPUs (with the
    redundant copies that fill the slots of an ``ep`` that does not divide them), the other weights too
    (tensor-parallel attention) or on every GPU (``dp_attn``)."""
    tp = worker.tp
    usable = platform.memory_bytes * engine.gpu_memory_utilization
    wb = precision.weight_bytes
    replicated = model.non_expert_params * wb + model.embedding_params * 2.0
    routed = model.moe_layers * model.expert_slots(worker.ep or tp) * model.expert_params if model.is_moe else 0
    weights = routed * wb / tp + (replicated if worker.dp_attn else replicated / tp)
    activations = engine.activation_reserve_gb * 1e9
    kv = usable - weights - activations
    shards = model.kv_shards(worker.tp, worker.dp_attn)
    per_token = model.kv_bytes_per_token(precision.kv_dtype) / shards
    fixed = model.kv_bytes_fixed_per_request(precision.kv_dtype) / shards
    return WorkerMemory(usable, weights, activations, kv, per_token, max(kv, 0.0) / per_token, fixed / per_token)


def check_fits(
    platform: Platform, model: ModelArch, precision: Precision, worker: WorkerConfig, engine: EngineConfig, longest_request_tokens: int
) -> WorkerMemory:
    """The worker's memory budget, or a :class:`ConfigError` saying what does not fit and what would."""

    def holds_longest(tp: int) -> bool:
        mem = worker_memory(platform, model, precision, replace(worker, tp=tp, ep=0), engine)
        return mem.kv_capacity_tokens >= longest_request_tokens + 1 + mem.kv_fixed_tokens

    mem = worker_memory(platform, model, precision, worker, engine)
    if mem.kv_capacity_tokens >= longest_request_tokens + 1 + mem.kv_fixed_tokens:
        return mem
    larger = (tp for tp in (2, 4, 8, 16, 32, 64, 128) if tp > worker.tp and heads_split_evenly(model, tp))
    better = next((tp for tp in larger if holds_longest(tp)), None)
    hint = f"use worker.tp={better} (the smallest that fits)" if better else "no tp up to 128 fits: use a lower precision or a larger-memory platform"
    if mem.kv_bytes_per_gpu <= 0:
        raise ConfigError(
            f"model {model.name} at {precision.name} does not fit on a worker of {worker.tp} x {platform.name}"
            f"{' with dp_attn' if worker.dp_attn else ''}: "
            f"each GPU needs {mem.weight_bytes_per_gpu / 1e9:.1f} GB of weights + {mem.activation_bytes_per_gpu / 1e9:.1f} GB "
            f"of activations but has {mem.usable_bytes_per_gpu / 1e9:.1f} GB usable "
            f"({model.weight_bytes(precision.weight_dtype) / 1e9:.0f} GB of weights in all); {hint}"
        )
    raise ConfigError(
        f"the KV cache of a worker of {worker.tp} x {platform.name} holds {mem.kv_capacity_tokens:.0f} tokens of "
        f"{model.name} ({mem.kv_bytes_per_gpu / 1e9:.1f} GB per GPU), but the longest request needs "
        f"{longest_request_tokens + 1 + mem.kv_fixed_tokens:.0f}; shorten the workload's lengths or {hint}"
    )


def validate_worker(model: ModelArch, worker: WorkerConfig, key: str = "worker") -> None:
    """Check one worker's parallel layout; ``key`` names it in messages (worker, prefill_worker)."""
    ep = worker.ep or worker.tp
    if worker.tp % ep:
        raise ConfigError(f"{key}.ep={worker.ep} must divide {key}.tp={worker.tp} (or be 0 for ep = tp)")
    if worker.dp_attn and (not model.is_moe or ep != worker.tp):
        raise ConfigError(
            f"{key}.dp_attn=true needs a mixture-of-experts model with its experts spread over the whole "
            f"worker ({key}.ep = {key}.tp or 0); {model.name} with tp={worker.tp}, ep={ep} does not qualify"
        )
    if not worker.dp_attn and not heads_split_evenly(model, worker.tp):  # dp_attn: every GPU has all heads
        raise ConfigError(
            f"{key}.tp={worker.tp} must divide the {model.cfg.q_heads} attention heads of {model.name}"
            + ("" if model.is_mla else f" and divide, or be a multiple of, its {model.cfg.kv_heads} KV heads")
            + f"; choose {key}.tp=" + "|".join(str(t) for t in (1, 2, 4, 8, 16) if heads_split_evenly(model, t))
        )


@dataclass(frozen=True)
class Pools:
    """The workers of the fleet: aggregated ones, or prefill and decode pools (disaggregated)."""

    workers: int  # aggregated workers, or decode workers when disaggregated
    prefill_workers: int  # 0: aggregated serving
    gpus: int  # GPUs of the fleet (whole racks when the racks set the worker count)
    placement: Placement | None = None  # the GPUs of every worker: prefill workers first, then the others

    @property
    def disaggregated(self) -> bool:
        return self.prefill_workers > 0


def validate_layout(
    platform: Platform, model: ModelArch, worker: WorkerConfig, prefill_worker: WorkerConfig, engine: EngineConfig, fleet: FleetConfig
) -> Pools:
    """Check the parallel layouts, the token budget and the fleet's size; return its pools of workers."""
    validate_worker(model, worker)
    if fleet.prefill_workers:
        validate_worker(model, prefill_worker, "prefill_worker")
    if fleet.router not in ("round_robin", "least_outstanding"):
        raise ConfigError(f"fleet.router={fleet.router!r} is unknown; use 'round_robin' or 'least_outstanding'")
    spec = engine.speculative
    query_tokens = 1 + (spec.draft_tokens if spec.method == "mtp" else 0)  # per decoding request and iteration
    if engine.max_tokens_per_iteration < engine.max_batch_size * query_tokens:
        each = f" ({query_tokens} with MTP: 1 + engine.speculative.draft_tokens={spec.draft_tokens})" if query_tokens > 1 else ""
        raise ConfigError(
            f"engine.max_tokens_per_iteration={engine.max_tokens_per_iteration} cannot hold a full batch decoding: "
            f"engine.max_batch_size={engine.max_batch_size} requests x {query_tokens} token(s) each{each} = "
            f"{engine.max_batch_size * query_tokens}; raise engine.max_tokens_per_iteration to at least that or lower engine.max_batch_size"
        )
    topology = platform.topology
    check_width(topology, worker.tp, "worker")
    if fleet.prefill_workers:
        check_width(topology, prefill_worker.tp, "prefill_worker")
    prefill_gpus = fleet.prefill_workers * prefill_worker.tp
    if fleet.workers:  # an explicit deployment: exactly its workers' GPUs
        pools = Pools(fleet.workers, fleet.prefill_workers, fleet.workers * worker.tp + prefill_gpus)
    else:
        gpus = fleet.racks * platform.gpus_per_rack
        if gpus < prefill_gpus + worker.tp:
            raise ConfigError(
                f"{fleet.racks} rack(s) of {platform.name} have {gpus} GPUs, fewer than "
                + (f"{fleet.prefill_workers} prefill worker(s) of {prefill_worker.tp} GPUs plus " if prefill_gpus else "")
                + f"one worker of worker.tp={worker.tp}; raise fleet.racks to "
                f"{-(-(prefill_gpus + worker.tp) // platform.gpus_per_rack)} or use smaller workers"
            )
        pools = Pools((gpus - prefill_gpus) // worker.tp, fleet.prefill_workers, gpus)
    workers = pools.workers + pools.prefill_workers
    if workers > MAX_WORKERS or pools.gpus > MAX_GPUS:
        raise ConfigError(
            f"a fleet of {pools.gpus:,} GPUs in {workers:,} workers is more than a run can hold ({MAX_GPUS:,} GPUs and "
            f"{MAX_WORKERS:,} workers at most; building its engines alone would take {run_estimate(0, workers)}); "
            "lower fleet.racks or fleet.workers (simulate a slice of the fleet: its per-GPU figures scale)"
        )
    return replace(pools, **placed(platform, pools, worker, prefill_worker, fleet))


def placed(platform: Platform, pools: Pools, worker: WorkerConfig, prefill_worker: WorkerConfig, fleet: FleetConfig) -> dict:
    """The placement of the pools' workers on the racks' domains (as many more as an explicit deployment
    needs); with the racks setting the count, as many workers as the domains hold whole."""
    topology = platform.topology
    prefill = [prefill_worker.tp] * pools.prefill_workers
    domains = fleet.racks * platform.gpus_per_rack // topology.domain_gpus
    if fleet.workers:
        return {"placement": place_fleet(topology, prefill + [worker.tp] * pools.workers, domains, fleet.placement, grow=True)}
    for count in range(pools.workers, 0, -1):
        fitted = place(topology, prefill + [worker.tp] * count, domains, fleet.placement)
        if fitted is not None:
            return {"workers": count, "placement": fitted}
    raise ConfigError(
        f"the {fleet.racks} rack(s) ({domains} scale-up domains of {topology.domain_gpus} GPUs) cannot place "
        f"{pools.prefill_workers} prefill worker(s) of prefill_worker.tp={prefill_worker.tp} and a worker of "
        f"worker.tp={worker.tp} without splitting one across domains; raise fleet.racks or use smaller workers"
    )


def build_perf_model(
    platform: Platform, model: ModelArch, precision: Precision, worker: WorkerConfig, cfg: PerfConfig,
    spec: Speculation | None = None, collectives: Collectives | None = None,
) -> PerformanceModel:
    """The performance model named by ``perf.kind`` (the roofline for a worker with these collectives)."""
    validate_perf_kind(cfg)
    if cfg.kind == "roofline":
        return RooflinePerf(platform, model, precision, worker, cfg, spec, collectives)
    return ConstantPerf(cfg)


def validate_perf_kind(cfg: PerfConfig) -> None:
    """``perf.kind`` must name a performance model."""
    if cfg.kind not in ("roofline", "constant"):
        raise ConfigError(f"perf.kind={cfg.kind!r} is unknown; use 'roofline' or 'constant'")


def placed_models(
    platform: Platform, model: ModelArch, precision: Precision, layout: WorkerConfig, cfg: PerfConfig,
    spec: Speculation | None, gpus: tuple[tuple[int, ...], ...],
) -> tuple[tuple[Collectives, ...], PerformanceModel, dict[int, PerformanceModel]]:
    """The collectives of a pool's workers where they were placed (``gpus``), the performance model of
    those placed like the first, and the models of the others (one per way of being placed)."""
    collectives = tuple(Collectives(platform.topology, g, cfg.collective_latency_s or 0.0) for g in gpus)
    shapes: dict[tuple[float, ...], PerformanceModel] = {}
    for c in collectives:
        if c.shape not in shapes:
            shapes[c.shape] = build_perf_model(platform, model, precision, layout, cfg, spec, c)
    first = collectives[0].shape
    return collectives, shapes[first], {i: shapes[c.shape] for i, c in enumerate(collectives) if c.shape != first}
