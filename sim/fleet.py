"""The fleet: racks of one platform carved into workers, and the memory each worker has for KV cache.

``fleet.racks`` racks of ``platform.gpus_per_rack`` GPUs are cut into workers of ``worker.tp`` GPUs
each (GPUs left over are powered and paid for but serve nothing). A worker holds one model replica:
its HBM, less the engine's headroom, less the weights, less an activation reserve, is KV cache.
Whether the model fits, and whether the longest request fits in the cache, is checked here, before any
simulation runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.config import ConfigError, EngineConfig, FleetConfig, WorkerConfig
from sim.hardware import Platform
from sim.models import ModelArch
from sim.precision import Precision


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


def worker_memory(platform: Platform, model: ModelArch, precision: Precision, tp: int, engine: EngineConfig) -> WorkerMemory:
    """Memory budget of a worker of ``tp`` GPUs (weights spread evenly over them)."""
    usable = platform.memory_bytes * engine.gpu_memory_utilization
    weights = model.weight_bytes(precision.weight_dtype) / tp
    activations = engine.activation_reserve_gb * 1e9
    kv = usable - weights - activations
    per_token = model.kv_bytes_per_token(precision.kv_dtype) / model.kv_shards(tp)
    fixed = model.kv_bytes_fixed_per_request(precision.kv_dtype) / model.kv_shards(tp)
    return WorkerMemory(usable, weights, activations, kv, per_token, max(kv, 0.0) / per_token, fixed / per_token)


def check_fits(
    platform: Platform, model: ModelArch, precision: Precision, worker: WorkerConfig, engine: EngineConfig, longest_request_tokens: int
) -> WorkerMemory:
    """The worker's memory budget, or a :class:`ConfigError` saying what does not fit and what would."""

    def holds_longest(tp: int) -> bool:
        mem = worker_memory(platform, model, precision, tp, engine)
        return mem.kv_capacity_tokens >= longest_request_tokens + 1 + mem.kv_fixed_tokens

    mem = worker_memory(platform, model, precision, worker.tp, engine)
    if holds_longest(worker.tp):
        return mem
    larger = (tp for tp in (2, 4, 8, 16, 32, 64, 128) if tp > worker.tp and heads_split_evenly(model, tp))
    better = next((tp for tp in larger if holds_longest(tp)), None)
    hint = f"use worker.tp={better} (the smallest that fits)" if better else "no tp up to 128 fits: use a lower precision or a larger-memory platform"
    if mem.kv_bytes_per_gpu <= 0:
        raise ConfigError(
            f"model {model.name} at {precision.name} does not fit on a worker of {worker.tp} x {platform.name}: "
            f"each GPU needs {mem.weight_bytes_per_gpu / 1e9:.1f} GB of weights + {mem.activation_bytes_per_gpu / 1e9:.1f} GB "
            f"of activations but has {mem.usable_bytes_per_gpu / 1e9:.1f} GB usable "
            f"({model.weight_bytes(precision.weight_dtype) / 1e9:.0f} GB of weights in all); {hint}"
        )
    raise ConfigError(
        f"the KV cache of a worker of {worker.tp} x {platform.name} holds {mem.kv_capacity_tokens:.0f} tokens of "
        f"{model.name}, but the longest request needs {longest_request_tokens + 1 + mem.kv_fixed_tokens:.0f}; "
        f"shorten the workload's lengths or {hint}"
    )


def validate_layout(platform: Platform, model: ModelArch, worker: WorkerConfig, engine: EngineConfig, fleet: FleetConfig) -> int:
    """Check the parallel layout and the fleet; return the number of workers."""
    if worker.tp <= 0:
        raise ConfigError(f"worker.tp={worker.tp} must be a positive number of GPUs")
    ep = worker.ep or worker.tp
    if ep < 0 or worker.tp % ep:
        raise ConfigError(f"worker.ep={worker.ep} must divide worker.tp={worker.tp} (or be 0 for ep = tp)")
    if model.is_moe and model.cfg.n_routed_experts % ep:
        raise ConfigError(f"worker.ep={ep} must divide the {model.cfg.n_routed_experts} experts of {model.name}")
    if not heads_split_evenly(model, worker.tp):
        raise ConfigError(
            f"worker.tp={worker.tp} must divide the {model.cfg.q_heads} attention heads of {model.name}"
            + ("" if model.is_mla else f" and divide, or be a multiple of, its {model.cfg.kv_heads} KV heads")
        )
    if fleet.racks <= 0:
        raise ConfigError(f"fleet.racks={fleet.racks} must be a positive integer")
    if fleet.router not in ("round_robin", "least_outstanding"):
        raise ConfigError(f"fleet.router={fleet.router!r} is unknown; use 'round_robin' or 'least_outstanding'")
    if fleet.max_queue_per_worker < 0:
        raise ConfigError("fleet.max_queue_per_worker must be >= 0 (0: no limit)")
    if engine.max_batch_size <= 0 or engine.max_tokens_per_iteration < engine.max_batch_size:
        raise ConfigError(
            f"engine.max_batch_size={engine.max_batch_size} must be positive and at most "
            f"engine.max_tokens_per_iteration={engine.max_tokens_per_iteration} (every running request decodes one token per iteration)"
        )
    if not 0 < engine.gpu_memory_utilization <= 1 or engine.activation_reserve_gb < 0:
        raise ConfigError("engine.gpu_memory_utilization must be in (0, 1] and engine.activation_reserve_gb >= 0")
    gpus = fleet.racks * platform.gpus_per_rack
    if gpus < worker.tp:
        raise ConfigError(
            f"{fleet.racks} rack(s) of {platform.name} have {gpus} GPUs, fewer than one worker of worker.tp={worker.tp}; "
            f"raise fleet.racks to {-(-worker.tp // platform.gpus_per_rack)} or lower worker.tp"
        )
    return gpus // worker.tp
