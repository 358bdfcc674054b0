"""Attributing a gap to its causes: along one path, over every order, and the order-averaged (Shapley) share.

``value(S)`` is the figure (cost per million tokens) of deployment A with the factors in the set S
switched to deployment B's; ``value(∅)`` is A's and ``value(all)`` B's. Switching the factors one at a
time along an order attributes to each factor the change its switch made, and the attributions add up to
the gap along any order, but each factor's share depends on the order (switching the price first
scales a larger or a smaller throughput gap). The Shapley attribution averages a factor's marginal
change over all n! orders, computed from the 2^n values:

    φ_i = Σ_{S ∌ i} |S|! (n − |S| − 1)! / n! · (value(S ∪ {i}) − value(S))

It adds up to the gap, does not depend on how the factors are listed, gives a factor that never changes
anything zero, and with two factors is the mean of the two single paths.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Mapping, Sequence

Value = Callable[[frozenset[int]], float]


def values_table(n: int, value: Value) -> dict[frozenset[int], float]:
    """``value`` at every subset of the n factors (each evaluated once)."""
    return {frozenset(s): value(frozenset(s)) for k in range(n + 1) for s in itertools.combinations(range(n), k)}


def path_attribution(order: Sequence[int], values: Mapping[frozenset[int], float]) -> list[float]:
    """Each factor's change when switched in this order (listed by factor, not by position)."""
    out = [0.0] * len(order)
    switched: frozenset[int] = frozenset()
    for i in order:
        out[i] = values[switched | {i}] - values[switched]
        switched = switched | {i}
    return out


def shapley(n: int, values: Mapping[frozenset[int], float]) -> list[float]:
    """The order-averaged attribution of each of the n factors."""
    out = [0.0] * n
    for s, v in values.items():
        for i in range(n):
            if i not in s:
                weight = math.factorial(len(s)) * math.factorial(n - len(s) - 1) / math.factorial(n)
                out[i] += weight * (values[s | {i}] - v)
    return out


def order_range(n: int, values: Mapping[frozenset[int], float]) -> list[tuple[float, float]]:
    """Each factor's smallest and largest attribution over all n! orders."""
    lo, hi = [math.inf] * n, [-math.inf] * n
    for order in itertools.permutations(range(n)):
        for i, a in enumerate(path_attribution(order, values)):
            lo[i], hi[i] = min(lo[i], a), max(hi[i], a)
    return list(zip(lo, hi))
