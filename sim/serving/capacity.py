"""The capacity of a worker estimated from its performance model alone, before any simulation.

Used to turn a ``load_fraction`` into an arrival rate, so one workload preset means the same load on any
fleet, and reported as ``capacity_rps_estimate``.
"""

from __future__ import annotations

from sim.base.config import EngineConfig
from sim.serving.perf import PerformanceModel


def estimate_worker_capacity_rps(
    perf: PerformanceModel,
    engine: EngineConfig,
    kv_capacity_tokens: float,
    kv_fixed_tokens: float,
    mean_input: float,
    mean_output: float,
    tokens_per_iteration: float = 1.0,
    prefill: bool = True,
) -> float:
    """Requests per second one worker sustains when saturated, from the performance model alone.

    The decode batch is the smaller of the batch limit and the number of average requests (holding
    their prompt and half their output) that fit in the KV cache. A request costs its prefill (timed
    as the marginal time of its tokens in a chunked iteration) plus its share of ``mean_output``
    decode iterations at that batch (fewer with speculative decoding). Used to turn a ``load_fraction`` into an arrival rate, so one
    workload preset means the same load on any fleet.
    """
    tokens_held = mean_input + mean_output / 2 + kv_fixed_tokens
    batch = max(1.0, min(engine.max_batch_size, kv_capacity_tokens / tokens_held))
    b = int(batch)
    context = b * (mean_input + mean_output / 2)
    decode_iter_s = perf.iteration_time_s(0, 0.0, 0.0, b, context)
    chunk = min(engine.max_tokens_per_iteration, int(mean_input))
    chunk = max(chunk, 1)
    with_chunk = perf.iteration_time_s(chunk, chunk * mean_input / 2, mean_input / 2, b, context, max(1, round(chunk / mean_input)))
    prefill_s = (with_chunk - decode_iter_s) * mean_input / chunk if prefill else 0.0
    seconds_per_request = prefill_s + mean_output / tokens_per_iteration * decode_iter_s / b
    return 1.0 / seconds_per_request
