"""The best a layout could possibly do, from the performance model alone: how a search knows a layout
is dominated before simulating more of it.

At a mean decode batch of b requests per decode worker, a worker's decode iteration takes at least
t(b), the time of a decode-only iteration of b requests at the shortest context (prompts of 0.8 L with
nothing generated yet: the benchmark draws lengths in [0.8 L, L]). So a user sees at most
``tokens per step / t(b)`` tokens per second, and the fleet delivers at most ``b · tokens per step /
t(b)`` output tokens per second per decode worker, with the workload's input tokens in proportion; a
disaggregated fleet also at most what its prefill workers prefill at their largest token budget (without
the attention of the prompts, spread evenly over the ranks of a dp_attn worker). Real points pay for prefill, queueing and a batch that varies (for the
affine t(b), b / t(b) is concave, so a varying batch delivers less than its mean would), so every
simulated point of the layout lies below this curve (checked by a test on simulated points). A layout whose whole curve lies below points
already simulated by more than a margin cannot reach the frontier, and its search stops.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Sequence

from sim.base.config import SimConfig
from sim.planning.layouts import Layout
from sim.serving.workload import mean_length

#: How far below the simulated frontier a layout's best possible curve must lie to be dropped: simulated
#: points at least 5 % faster for users (a request's own number of speculative steps varies, which can
#: put a single client slightly above the mean-yield curve) and delivering 15 % more.
DOMINANCE_MARGIN = 0.15
INTERACTIVITY_MARGIN = 0.05


@dataclass(frozen=True)
class Bound:
    """A layout's optimistic curve: interactivity falling and throughput per GPU rising with the batch."""

    interactivity: tuple[float, ...]
    tput_per_gpu: tuple[float, ...]

    def boxes(self) -> list[tuple[float, float]]:
        """The curve as boxes, one per pair of neighbouring samples: (the larger interactivity, the larger
        throughput) of the two. The curve between the samples stays inside its box (its interactivity
        need not fall with every added request: with dp_attn the busiest GPU's share is a step function)."""
        x, y = self.interactivity, self.tput_per_gpu
        if len(x) == 1:
            return [(x[0], y[0])]
        return [(max(x[k], x[k + 1]), max(y[k], y[k + 1])) for k in range(len(x) - 1)]

    def dominated_by(self, staircase: "Staircase", margin: float = DOMINANCE_MARGIN) -> bool:
        """True when every box of the curve is dominated: some simulated point is faster for users than
        the box's interactivity (by the interactivity margin) and delivers more than (1 + margin) times
        its throughput."""
        if not self.interactivity:
            return False
        return all(staircase.best_at(x * (1 + INTERACTIVITY_MARGIN)) >= y * (1 + margin) for x, y in self.boxes())


class Staircase:
    """The best throughput per GPU among simulated points at least as fast as a given interactivity."""

    def __init__(self, points: Sequence[tuple[float, float]]):
        fastest_first = sorted(points, key=lambda p: -p[0])
        self._neg_x = [-x for x, _ in fastest_first]  # rising
        self._best, running = [], 0.0
        for _, t in fastest_first:
            running = max(running, t)
            self._best.append(running)

    def best_at(self, interactivity: float) -> float:
        found = bisect.bisect_right(self._neg_x, -interactivity)  # how many points are at least this fast
        return self._best[found - 1] if found else 0.0


def _batches(largest: float) -> list[int]:
    """Every batch up to 128 (where the dp_attn share steps), then steps of 5 %, and the largest."""
    out, b = [], 1
    while b < largest:
        out.append(b)
        b = b + 1 if b < 128 else int(b * 1.05)
    return out + [max(1, int(largest))]


def optimistic_curve(base: SimConfig, layout: Layout, max_concurrency: int) -> Bound:
    """The layout's best possible (interactivity, throughput per GPU) from its performance model, for
    decode batches from 1 to what its KV cache or the clients (``max_concurrency``) allow."""
    from sim.run.simulation import build

    dep = build(layout.config(base, 1))
    wl = dep.cfg.workload
    mean_in = mean_length(wl.input_tokens, wl.length_dist, wl.lognormal_sigma)
    mean_out = mean_length(wl.output_tokens, wl.length_dist, wl.lognormal_sigma)
    shortest_prompt = {"fixed": float(wl.input_tokens), "uniform": max(1.0, 0.8 * wl.input_tokens)}.get(wl.length_dist, 1.0)
    decode = dep.pools[-1]
    per_request = shortest_prompt + decode.memory.kv_fixed_tokens
    largest = min(decode.memory.kv_capacity_tokens / per_request, max_concurrency / decode.workers)
    tokens_per_step = dep.spec.mean_tokens
    prefill_rps = float("inf")
    if len(dep.pools) > 1:
        # the largest token budget any rung gives, and prompts spread evenly over dp_attn ranks
        pool = dep.pools[0]
        chunk = layout.token_budget(dep.cfg, layout.batch_limit(max_concurrency))
        prefill_rps = pool.workers * chunk / pool.perf.iteration_time_s(chunk, 0.0, 0.0, 0, 0.0, pool.layout.tp) / mean_in
    xs, ys = [], []
    for b in _batches(largest):
        step_s = decode.perf.iteration_time_s(0, 0.0, 0.0, b, b * shortest_prompt)
        decode_rps = decode.workers * b * tokens_per_step / step_s / mean_out
        xs.append(tokens_per_step / step_s)
        ys.append(min(decode_rps, prefill_rps) * (mean_in + mean_out) / dep.gpus)
    return Bound(tuple(xs), tuple(ys))
