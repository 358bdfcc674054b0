"""The capacity of a worker estimated from its performance model alone, before any simulation.

Used to turn a ``load_fraction`` into an arrival rate, so one workload preset means the same load on any
fleet, and reported as ``capacity_rps_estimate``.
"""

from __future__ import annotations

from sim.base.config import EngineConfig, WorkerConfig
from sim.serving.perf import PerformanceModel


def attention_ranks(layout: WorkerConfig) -> int:
    """The ranks of a worker that each schedule their own requests and prefill chunks, as serving engines run
    attention data parallelism: its GPUs with ``dp_attn``, else one. ``engine.max_batch_size`` and
    ``engine.max_tokens_per_iteration`` are per rank, so a wide worker is not capped at one GPU's share."""
    return layout.tp if layout.dp_attn else 1


def estimate_worker_capacity_rps(
    perf: PerformanceModel,
    engine: EngineConfig,
    kv_capacity_tokens: float,
    kv_fixed_tokens: float,
    mean_input: float,
    mean_output: float,
    tokens_per_iteration: float = 1.0,
    prefill: bool = True,
    ranks: int = 1,
) -> float:
    """Requests per second one worker sustains when saturated, from the performance model alone.

    The decode batch is the smaller of the batch limit and the number of average requests (holding
    their prompt and half their output) that fit in the KV cache. A request costs its prefill (timed
    as the marginal time of its tokens in a chunked iteration) plus its share of ``mean_output``
    decode iterations at that batch (fewer with speculative decoding); each of ``ranks`` attention ranks prefills
    its own chunk. Used to turn a ``load_fraction`` into an arrival rate, so one workload preset means the same
    load on any fleet.
    """
    tokens_held = mean_input + mean_output / 2 + kv_fixed_tokens
    batch = max(1.0, min(engine.max_batch_size * ranks, kv_capacity_tokens / tokens_held))
    b = int(batch)
    context = b * (mean_input + mean_output / 2)
    decode_iter_s = perf.iteration_time_s(0, 0.0, 0.0, b, context)
    chunk = max(1, min(engine.max_tokens_per_iteration, int(mean_input))) * ranks
    with_chunk = perf.iteration_time_s(chunk, chunk * mean_input / 2, ranks * mean_input / 2, b, context, max(1, round(chunk / mean_input)))
    prefill_s = (with_chunk - decode_iter_s) * mean_input / chunk if prefill else 0.0
    seconds_per_request = prefill_s + mean_output / tokens_per_iteration * decode_iter_s / b
    return 1.0 / seconds_per_request
