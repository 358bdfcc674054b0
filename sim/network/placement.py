"""Placement: which GPUs of the fleet each worker runs on, and so which links its traffic crosses.

The fleet's GPUs are numbered domain by domain (GPU g is GPU g mod D of scale-up domain g // D), and
domains leaf group by leaf group. A worker of at most D GPUs is placed inside one domain (first fit, so
it never straddles two); a wider one takes whole domains, so its all-to-all leaves the scale-up fabric
only for the peers in its other domains. Workers are placed widest first (fewest gaps), each in the
order of the domains the policy gives:

* ``packed`` fills the domains in order, so a worker's domains share a leaf group where they can and
  its traffic between them stays below the spine;
* ``spread`` takes domains from the leaf groups in turn (group 0, 1, 2, ..., then again), as schedulers
  spreading failure domains or power do: a worker of several domains spans several leaf groups, and
  the workers of the fleet meet on the same leaf uplinks.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.base.config import ConfigError
from sim.spec.topology import Topology

POLICIES = ("packed", "spread")


@dataclass(frozen=True)
class Placement:
    """The GPUs of every worker (in worker order) on a fleet of ``domains`` scale-up domains."""

    topology: Topology
    domains: int
    workers: tuple[tuple[int, ...], ...]


def check_width(topology: Topology, tp: int, key: str) -> None:
    """A worker wider than a scale-up domain must fill whole domains."""
    d = topology.domain_gpus
    if tp > d and tp % d:
        raise ConfigError(
            f"{key}.tp={tp} spans {-(-tp // d)} scale-up domains of {d} GPUs without filling them: a worker wider "
            f"than a domain takes whole domains; use a multiple of {d} (or at most {d})"
        )


def domain_order(topology: Topology, domains: int, policy: str) -> list[int]:
    """The order in which a policy hands out domains."""
    if policy == "packed":
        return list(range(domains))
    if policy != "spread":
        raise ConfigError(f"fleet.placement={policy!r} is unknown; use one of {', '.join(POLICIES)}")
    per_leaf = topology.domains_per_leaf
    groups = -(-domains // per_leaf)
    return [g * per_leaf + j for j in range(per_leaf) for g in range(groups) if g * per_leaf + j < domains]


def place(topology: Topology, widths: list[int], domains: int, policy: str) -> Placement | None:
    """Place workers of ``widths`` GPUs on ``domains`` domains; None if they do not all fit."""
    d = topology.domain_gpus
    order = domain_order(topology, domains, policy)
    free = [d] * domains
    first: dict[int, int] = {}  # per width: where in the order the search for room starts (room only shrinks)
    gpus: list[tuple[int, ...]] = [()] * len(widths)
    for w in sorted(range(len(widths)), key=lambda i: -widths[i]):
        tp = widths[w]
        need, room = (tp // d, d) if tp > d else (1, tp)  # whole domains, or room in one
        i = first.get(tp, 0)
        taken = []
        while len(taken) < need and i < len(order):
            if free[order[i]] >= room:
                taken.append(order[i])
            elif not taken:
                first[tp] = i + 1
            i += 1
        if len(taken) < need:
            return None
        start = taken[0] * d + d - free[taken[0]]
        gpus[w] = tuple(range(start, start + tp)) if tp <= d else tuple(g for x in taken for g in range(x * d, x * d + d))
        for x in taken:
            free[x] -= min(tp, d)
    return Placement(topology, domains, tuple(gpus))


def place_fleet(topology: Topology, widths: list[int], domains: int, policy: str, grow: bool) -> Placement | None:
    """Place workers on the fleet's ``domains`` (or, with ``grow``, on as many more as they need)."""
    if grow:
        domains = max(domains, -(-sum(widths) // topology.domain_gpus))
    placement = place(topology, widths, domains, policy)
    while placement is None and grow:
        domains += 1
        placement = place(topology, widths, domains, policy)
    return placement
