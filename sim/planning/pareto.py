"""The throughput–interactivity frontier of a set of measured or simulated points, read as a curve.

A point is a deployment at one concurrency: its interactivity x (tokens per second per user) and its
throughput per GPU y. Its **upper Pareto frontier** keeps the points no other point beats on both: sorted
by interactivity, throughput strictly falls. Between frontier points the curve is a monotone cubic
Hermite spline with Steffen's slopes (M. Steffen, A&A 239, 443, 1990), as the public benchmark's
dashboard draws and reads it (d3's ``curveMonotoneX``); the spline never leaves the range of its two
neighbouring points, so it stays monotone. Reading throughput at an interactivity:

* above the fastest frontier point: unreachable (None), no extrapolation;
* below the slowest: the slowest point's throughput (a deployment that serves users faster also
  serves them at a lower interactivity);
* in between: the spline.

Cost per token and tokens per MW are a constant over, or times, the throughput at one platform and
price, so they are read from the interpolated throughput, never splined on their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


def upper_frontier(xs: Sequence[float], ys: Sequence[float]) -> list[int]:
    """Indices of the points on the upper Pareto frontier, by rising x (and strictly falling y).

    A point is kept unless another has at least its x and at least its y (one of them larger); of equal
    points the first is kept. Non-finite points are ignored.
    """
    order = sorted(
        (i for i in range(len(xs)) if math.isfinite(xs[i]) and math.isfinite(ys[i])), key=lambda i: (xs[i], -ys[i], i)
    )
    front: list[int] = []
    for i in order:
        if front and xs[front[-1]] == xs[i]:
            continue  # the same x with a lower (or equal) y: dominated by the one kept
        while front and ys[i] >= ys[front[-1]]:
            front.pop()
        front.append(i)
    return front


def steffen_slopes(xs: Sequence[float], ys: Sequence[float]) -> list[float]:
    """Slopes at the knots of Steffen's monotone cubic Hermite spline (end slopes as d3's monotoneX)."""
    n = len(xs)
    if n < 2:
        return [0.0] * n
    h = [xs[i + 1] - xs[i] for i in range(n - 1)]
    s = [(ys[i + 1] - ys[i]) / h[i] if h[i] else 0.0 for i in range(n - 1)]
    m = [0.0] * n
    for i in range(1, n - 1):
        p = (s[i - 1] * h[i] + s[i] * h[i - 1]) / (h[i - 1] + h[i])
        sign = (math.copysign(1.0, s[i - 1]) + math.copysign(1.0, s[i])) / 2
        m[i] = 2 * sign * min(abs(s[i - 1]), abs(s[i]), 0.5 * abs(p))
    m[0] = (3 * s[0] - m[1]) / 2 if n > 2 else s[0]
    m[-1] = (3 * s[-1] - m[-2]) / 2 if n > 2 else s[-1]
    return m


def hermite(xs: Sequence[float], ys: Sequence[float], slopes: Sequence[float], x: float) -> float:
    """The cubic Hermite spline through (xs, ys) with these slopes at ``x`` (xs rising), clamped to
    the values of the segment's two knots (the end slopes can overshoot)."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    lo, hi = 0, len(xs) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xs[mid] <= x:
            lo = mid
        else:
            hi = mid
    h = xs[hi] - xs[lo]
    t = (x - xs[lo]) / h
    t2, t3 = t * t, t * t * t
    y = (2 * t3 - 3 * t2 + 1) * ys[lo] + (t3 - 2 * t2 + t) * h * slopes[lo] + (-2 * t3 + 3 * t2) * ys[hi] + (t3 - t2) * h * slopes[hi]
    return min(max(y, min(ys[lo], ys[hi])), max(ys[lo], ys[hi]))


@dataclass(frozen=True)
class Frontier:
    """The upper frontier of throughput per GPU against interactivity, as a monotone curve.

    ``index``: which of the points given are on it (by rising interactivity).
    """

    xs: tuple[float, ...]  # interactivity of the frontier points, rising
    ys: tuple[float, ...]  # their throughput per GPU, falling
    index: tuple[int, ...]
    slopes: tuple[float, ...]

    @classmethod
    def of(cls, interactivity: Sequence[float], tput_per_gpu: Sequence[float]) -> "Frontier":
        front = upper_frontier(interactivity, tput_per_gpu)
        xs = [float(interactivity[i]) for i in front]
        ys = [float(tput_per_gpu[i]) for i in front]
        return cls(tuple(xs), tuple(ys), tuple(front), tuple(steffen_slopes(xs, ys)))

    @property
    def empty(self) -> bool:
        return not self.xs

    @property
    def max_interactivity(self) -> float:
        """The fastest interactivity any point reaches (NaN for an empty frontier)."""
        return self.xs[-1] if self.xs else float("nan")

    def tput_at(self, interactivity: float) -> float | None:
        """Throughput per GPU at ``interactivity``; None where no point is that fast."""
        if not self.xs or interactivity > self.xs[-1]:
            return None
        if len(self.xs) == 1 or interactivity <= self.xs[0]:
            return self.ys[0] if interactivity <= self.xs[0] else self.ys[-1]
        return hermite(self.xs, self.ys, self.slopes, interactivity)

    def serving_point(self, interactivity: float) -> int | None:
        """The point that serves ``interactivity``: the slowest frontier point at least that fast
        (its index among the points given), or None if none is."""
        for x, i in zip(self.xs, self.index):
            if x >= interactivity:
                return i
        return None


def ratio_at(numerator: Frontier, denominator: Frontier, interactivities: Sequence[float]) -> list[float | None]:
    """Throughput ratio of two frontiers at each interactivity (None where either cannot reach it)."""
    out: list[float | None] = []
    for x in interactivities:
        a, b = numerator.tput_at(x), denominator.tput_at(x)
        out.append(a / b if a is not None and b is not None and b > 0 else None)
    return out


def crossing(xs: Sequence[float], values: Sequence[float | None], level: float) -> list[float]:
    """The x where a sampled curve crosses ``level`` (linear between samples; None values break it)."""
    found = []
    for i in range(len(xs) - 1):
        a, b = values[i], values[i + 1]
        if a is None or b is None:
            continue
        if a == level:
            found.append(xs[i])
        elif (a - level) * (b - level) < 0:
            found.append(xs[i] + (level - a) * (xs[i + 1] - xs[i]) / (b - a))
    if values and values[-1] == level:
        found.append(xs[-1])
    return found
