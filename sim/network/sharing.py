"""Max-min fair sharing of links among flows (progressive filling).

A flow uses each link of its path with a coefficient (how many units of link bandwidth one unit of its
rate takes there) and may have a cap of its own. Its max-min fair rate is found by raising the rates of
all flows together until a link is full (or a flow reaches its cap): the flows through that link (or at
their cap) keep the rate reached, the others keep rising over what is left. The result: no flow can get
more without taking from a flow whose rate is no larger. On one link, n equal flows get 1/n of it each
(processor sharing); a flow held back elsewhere leaves its unused share to the others.
"""

from __future__ import annotations

import math
from typing import Hashable, Iterable

Flow = tuple[dict[Hashable, float], float]  # (link -> coefficient, cap: inf for none)


def max_min_rates(capacity: dict[Hashable, float], flows: Iterable[Flow]) -> list[float]:
    """Max-min fair rates of ``flows`` over links of ``capacity`` (bytes/s), in the flows' order."""
    flows = list(flows)
    rates = [math.inf] * len(flows)
    users: dict[Hashable, list[tuple[int, float]]] = {}
    load: dict[Hashable, float] = {}  # per link: the rising flows' coefficients
    for f, (links, _) in enumerate(flows):
        for link, coef in links.items():
            if coef > 0:
                users.setdefault(link, []).append((f, coef))
                load[link] = load.get(link, 0.0) + coef
    left = {link: capacity[link] for link in load}
    caps = sorted((cap, f) for f, (_, cap) in enumerate(flows) if not math.isinf(cap))
    rising = len(flows)
    level, next_cap = 0.0, 0
    while rising:
        step = math.inf
        for link, coef_sum in load.items():
            if coef_sum > 1e-15:
                step = min(step, left[link] / coef_sum)
        while next_cap < len(caps) and not math.isinf(rates[caps[next_cap][1]]):
            next_cap += 1  # (already frozen at a link)
        if next_cap < len(caps):
            step = min(step, caps[next_cap][0] - level)
        if math.isinf(step):
            break  # the flows left use no link and have no cap: nothing limits them
        step = max(step, 0.0)
        level += step
        frozen = []
        for link, coef_sum in load.items():
            if coef_sum > 1e-15:
                left[link] -= step * coef_sum
                if left[link] <= 1e-12 * capacity[link]:
                    frozen += [f for f, _ in users[link] if math.isinf(rates[f])]
        while next_cap < len(caps) and caps[next_cap][0] - level <= 1e-12 * max(1.0, level):
            frozen.append(caps[next_cap][1])
            next_cap += 1
        if not frozen:  # (rounding left every link a hair short of full: freeze those nearest to it)
            nearest = min(left[link] / coef_sum for link, coef_sum in load.items() if coef_sum > 1e-15)
            frozen = [f for link, coef_sum in load.items() if coef_sum > 1e-15 and left[link] / coef_sum <= nearest
                      for f, _ in users[link] if math.isinf(rates[f])]
        for f in frozen:
            if math.isinf(rates[f]):
                rates[f] = level
                rising -= 1
                for link, coef in flows[f][0].items():
                    if coef > 0:
                        load[link] -= coef
    return rates
