"""The frontier search: every layout of a space at rising concurrency, in benchmark mode, in parallel.

Each layout climbs a ladder of concurrencies (1, 2, 3, 4, 6, 8, 12, ... by factors of about √2, or the
concurrencies a benchmark's space lists), one rung per round; a round simulates the next rung of every
layout still climbing, on all cores. A layout stops climbing when

* it **saturates**: its throughput per GPU grew by less than 3 % over its best so far (more clients only
  queue), or users get fewer tokens per second than ``min_interactivity`` (or, searching for an SLO,
  its p99 TPOT or TTFT passed the SLO's limit: more clients only make them longer);
* it is **dominated**: its best possible curve (:mod:`sim.planning.bounds`) lies below points already
  simulated by more than the margin everywhere, so no concurrency can put it on the frontier;
* it fails (the reason is kept with the point).

The decisions after a round depend only on the results of the rounds before, never on which process
finished first, so the search is deterministic. Layouts the simulator refuses are removed before any
simulation, each with its reason (:func:`sim.planning.space.feasible`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from sim.base.config import ConfigError, SimConfig
from sim.planning.bounds import Staircase, optimistic_curve
from sim.planning.layouts import Layout
from sim.planning.pareto import Frontier
from sim.planning.runs import Runner
from sim.planning.space import Removed, feasible, nothing_feasible_message

#: Growth of throughput per GPU below which a layout counts as saturated.
SATURATION_GAIN = 0.03
MAX_CONCURRENCY = 16384
MIN_INTERACTIVITY = 5.0  # tok/s/user: slower points are of no use to anyone

#: Metrics a frontier point keeps (the rest of a run's metrics.json is not needed to compare layouts).
POINT_METRICS = (
    "tput_per_gpu_tok_s", "interactivity_tok_s_user", "interactivity_p50_tok_s_user", "ttft_s_mean", "ttft_s_p99",
    "tpot_s_mean", "tpot_s_p99", "cost_usd_per_mtok", "cost_usd_per_hour", "tok_s_per_mw_provisioned",
    "tok_s_per_mw_drawn", "power_kw", "gpus", "requests_completed", "preemptions", "model_error_pct", "model_calibrated",
)


def ladder(max_concurrency: int = MAX_CONCURRENCY) -> tuple[int, ...]:
    """1, 2, 3, 4, 6, 8, 12, 16, ...: powers of two and the midpoints between them."""
    out, c = [], 1
    while c <= max_concurrency:
        out.append(c)
        if c >= 2 and c * 3 // 2 <= max_concurrency:
            out.append(c * 3 // 2)
        c *= 2
    return tuple(out)


@dataclass(frozen=True)
class Point:
    """One simulated layout at one concurrency."""

    layout: Layout
    concurrency: int
    metrics: dict = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.metrics.get("tput_per_gpu_tok_s", 0) > 0 and self.metrics.get("interactivity_tok_s_user", 0) > 0

    @property
    def interactivity(self) -> float:
        return self.metrics["interactivity_tok_s_user"]

    @property
    def tput_per_gpu(self) -> float:
        return self.metrics["tput_per_gpu_tok_s"]


@dataclass
class SearchResult:
    """A frontier search's outcome: every point simulated, the layouts removed or stopped, the frontier."""

    base: SimConfig
    points: list[Point]
    removed: list[Removed]  # refused before simulating, with the reason
    stopped: dict[tuple, str]  # layout key -> why it stopped climbing (saturated, dominated, ...)
    runs: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0

    @property
    def ok_points(self) -> list[Point]:
        return [p for p in self.points if p.ok]

    def frontier(self, spec: str = "any", disagg: str = "any") -> tuple[Frontier, list[Point]]:
        """The frontier over the points whose layout matches (``spec``: any/mtp/none, ``disagg``:
        any/0/1), and those points (the frontier's ``index`` refers to them)."""
        chosen = [
            p for p in self.ok_points
            if spec in ("any", p.layout.spec) and disagg in ("any", "1" if p.layout.disagg else "0")
        ]
        return Frontier.of([p.interactivity for p in chosen], [p.tput_per_gpu for p in chosen]), chosen

    def on_frontier(self) -> set[int]:
        """Positions in ``points`` of the points on the overall frontier."""
        frontier, chosen = self.frontier()
        on = {id(chosen[i]) for i in frontier.index}
        return {k for k, p in enumerate(self.points) if id(p) in on}


@dataclass(frozen=True)
class Lane:
    """One deployment climbing its ladder: a benchmark-mode configuration and a layout."""

    base: SimConfig
    layout: Layout

    def rungs(self, max_concurrency: int) -> tuple[int, ...]:
        return self.layout.concurrencies or ladder(max_concurrency)


def climb(
    lanes: list[Lane],
    runner: Runner,
    *,
    max_concurrency: int = MAX_CONCURRENCY,
    min_interactivity: float = MIN_INTERACTIVITY,
    slo_limits_s: tuple[float, float] | None = None,
    dominated: Callable[[Lane, list[Point]], bool] | None = None,
) -> tuple[list[list[Point]], list[str]]:
    """Every lane up its ladder, one rung per round, all lanes of a round in parallel: each lane's points
    and why it stopped. ``dominated(lane, points so far)`` may stop a lane between rounds."""
    rungs = [lane.rungs(max_concurrency) for lane in lanes]
    points: list[list[Point]] = [[] for _ in lanes]
    stopped = [""] * len(lanes)
    best = [0.0] * len(lanes)
    active = list(range(len(lanes)))
    while active:
        jobs = [(i, rungs[i][len(points[i])]) for i in active]
        outcomes = runner.run([lanes[i].layout.config(lanes[i].base, c) for i, c in jobs])
        for (i, c), outcome in zip(jobs, outcomes):
            point = Point(lanes[i].layout, c, {k: outcome.metrics.get(k) for k in POINT_METRICS} if outcome.ok else {}, outcome.error)
            reason = _stop_reason(point, best[i] if points[i] else None, bool(lanes[i].layout.concurrencies), min_interactivity, slo_limits_s)
            points[i].append(point)
            if point.ok:
                best[i] = max(best[i], point.tput_per_gpu)
            stopped[i] = reason or ("reached the last concurrency" if len(points[i]) >= len(rungs[i]) else "")
        active = [i for i in active if not stopped[i]]
        if dominated is not None and active:
            so_far = [p for lane_points in points for p in lane_points if p.ok]
            for i in list(active):
                if dominated(lanes[i], so_far):
                    stopped[i] = "dominated: its best possible curve lies below points already simulated"
                    active.remove(i)
    return points, stopped


def search(
    base: SimConfig,
    layouts: list[Layout],
    runner: Runner,
    *,
    max_concurrency: int = MAX_CONCURRENCY,
    min_interactivity: float = MIN_INTERACTIVITY,
    prune: bool = True,
    slo_limits_s: tuple[float, float] | None = None,
    what: str = "",
) -> SearchResult:
    """Search ``layouts`` for ``base`` (a benchmark-mode configuration); :class:`ConfigError` naming every
    layout's constraint if none can be simulated. ``slo_limits_s``: (p99 TTFT, p99 TPOT) past which a
    layout stops climbing."""
    start = time.perf_counter()
    runs0, cpu0 = runner.runs, runner.cpu_s
    kept, removed = feasible(base, layouts)
    if not kept:
        raise ConfigError(nothing_feasible_message(what or _describe(base), removed))
    lanes = [Lane(base, layout) for layout in kept]
    dominated = None
    if prune:
        bounds = {lane.layout.key(): optimistic_curve(base, lane.layout, max(lane.rungs(max_concurrency))) for lane in lanes}
        prepared: dict[int, Staircase] = {}  # one staircase per round (keyed by the number of points)

        def dominated(lane: Lane, so_far: list[Point]) -> bool:
            if len(so_far) not in prepared:
                prepared.clear()
                prepared[len(so_far)] = Staircase([(p.interactivity, p.tput_per_gpu) for p in so_far])
            return bounds[lane.layout.key()].dominated_by(prepared[len(so_far)])

    points, stopped = climb(lanes, runner, max_concurrency=max_concurrency, min_interactivity=min_interactivity,
                            slo_limits_s=slo_limits_s, dominated=dominated)
    # in the order they were simulated: round by round
    flat = [p for k in range(max(map(len, points))) for lane_points in points if k < len(lane_points) for p in [lane_points[k]]]
    why = {lane.layout.key(): reason for lane, reason in zip(lanes, stopped)}
    return SearchResult(base, flat, removed, why, runner.runs - runs0, runner.cpu_s - cpu0, time.perf_counter() - start)


def _stop_reason(point: Point, best: float | None, fixed: bool, min_interactivity: float, slo_limits_s) -> str | None:
    if not point.ok:
        return f"failed at concurrency {point.concurrency}: {point.error or 'no tokens delivered'}"
    if point.interactivity < min_interactivity:
        return f"below {min_interactivity:g} tok/s/user at concurrency {point.concurrency}"
    if slo_limits_s and (point.metrics["ttft_s_p99"] > slo_limits_s[0] or point.metrics["tpot_s_p99"] > slo_limits_s[1]):
        return f"past the SLO's p99 limits at concurrency {point.concurrency}"
    if not fixed and best is not None and point.tput_per_gpu < best * (1 + SATURATION_GAIN):
        return f"saturated at concurrency {point.concurrency}"
    return None


def _describe(cfg: SimConfig) -> str:
    wl = cfg.workload
    return f"{cfg.model.name} at {cfg.precision.name} on {cfg.platform.name} ({wl.input_tokens}/{wl.output_tokens} tokens)"
