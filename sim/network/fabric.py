"""The fabric during a run: flows on shared links, their max-min fair rates as flows come and go.

Two kinds of flow share the links:

* a **worker flow** is a worker's communication on links it shares with other flows (its scale-up
  ports, or its NICs and leaf uplinks). It is present while the worker is busy (from the moment a request
  reaches an idle worker until it runs out of work) and has no size: its rate is what the worker's
  collectives move per GPU port while it lasts. When its rate changes the worker is told, and it times its
  iterations with the new rate from its next iteration boundary (the iteration in progress keeps its
  duration: the one approximation, bounded by one iteration). Counting a busy worker's flow as present
  all the time, even between its communication phases, is an upper bound on the contention between
  workers.
* a **transfer** (a request's KV cache from a prefill to a decode worker) has a size: it progresses at
  its rate times the achieved fraction of the link kind, its rate changes whenever the set of flows
  changes, and it is done when its bytes are through (exact, as a fluid), plus its path's latency.

On every change the rates of all present flows are recomputed (:func:`sim.network.sharing.max_min_rates`)
and the next transfer to finish is scheduled: one event per transfer start and end, none per iteration.
The recomputation only looks at the links two present flows share: a link one flow has to itself only
bounds that flow, which is the same as a cap (exact), so a worker's dozens of private ports cost nothing.
Links that no two flows ever share are not simulated here at all: their workers keep the rate they have
alone, so a fleet whose workers share nothing runs exactly as without a fabric.
"""

from __future__ import annotations

import math
from typing import Callable

from sim.base.clock import FleetEnvironment
from sim.network.links import Link, Path, capacity_bytes_per_s
from sim.network.sharing import max_min_rates
from sim.spec.topology import Topology


class Flow:
    """What the fabric knows of a flow: its links (coefficients), its cap, its rate, and its links in
    the order of the rate each alone would allow (to find the tightest one it has to itself)."""

    def __init__(self, links: dict[Link, float], cap_bytes_per_s: float, capacity: Callable[[Link], float]):
        self.links, self.cap = links, cap_bytes_per_s
        self.rate = 0.0
        self.by_limit = sorted((capacity(link) / coef, link) for link, coef in links.items() if coef > 0)


class WorkerFlow(Flow):
    """A worker's communication over links it shares; ``on_rate(bytes_per_s)`` hears of rate changes."""

    def __init__(self, links: dict[Link, float], cap_bytes_per_s: float, on_rate: Callable[[float], None], capacity: Callable[[Link], float]):
        super().__init__(links, cap_bytes_per_s, capacity)
        self.on_rate = on_rate
        self.active = False  # while its worker is busy (Fabric.set_active)


class Transfer(Flow):
    """Bytes moving over a path (per GPU pair), at a rate set by the fabric."""

    def __init__(self, path: Path, bytes_per_pair: float, efficiency: float, on_done: Callable[[], None], capacity: Callable[[Link], float]):
        super().__init__(path.links, path.cap_bytes_per_s, capacity)
        self.latency_s = path.latency_s
        self.bytes = self.remaining = bytes_per_pair
        self.efficiency, self.on_done = efficiency, on_done


class Fabric:
    """The shared links of one simulation and the flows on them."""

    def __init__(self, env: FleetEnvironment, topology: Topology):
        self.env, self.topology = env, topology
        self.worker_flows: list[WorkerFlow] = []
        self.transfers: list[Transfer] = []
        self.link_bytes: dict[Link, float] = {}  # moved by transfers (workers' bytes are added from their counters)
        self.transferred_bytes = 0.0  # all transfers' bytes, every pair
        self.updates = 0  # rate recomputations
        self.timer_events = 0
        self._last_s = 0.0
        self._epoch = 0
        self._capacity: dict[Link, float] = {}
        self._users: dict[Link, dict[Flow, float]] = {}  # the present flows on each link, with their coefficients
        self._shared: dict[Link, None] = {}  # links with two present flows or more (in a deterministic order)

    def capacity(self, link: Link) -> float:
        capacity = self._capacity.get(link)
        if capacity is None:
            capacity = self._capacity[link] = capacity_bytes_per_s(self.topology, link)
        return capacity

    def worker_flow(self, links: dict[Link, float], cap_bytes_per_s: float, on_rate: Callable[[float], None]) -> WorkerFlow:
        flow = WorkerFlow(links, cap_bytes_per_s, on_rate, self.capacity)
        self.worker_flows.append(flow)
        return flow

    def set_active(self, flows: list[WorkerFlow], active: bool) -> None:
        """A worker's flows start (it became busy) or stop (it became idle): one recomputation for all."""
        if any(flow.active != active for flow in flows):
            for flow in flows:
                if flow.active != active:
                    flow.active = active
                    (self._join if active else self._leave)(flow)
            self.update()

    def _join(self, flow: Flow) -> None:
        for link, coef in flow.links.items():
            users = self._users.setdefault(link, {})
            users[flow] = coef
            if len(users) == 2:
                self._shared[link] = None

    def _leave(self, flow: Flow) -> None:
        for link in flow.links:
            users = self._users[link]
            del users[flow]
            if len(users) == 1:
                del self._shared[link]

    def start_transfer(
        self, path: Path, bytes_per_pair: float, efficiency: float, on_done: Callable[[], None], extra_latency_s: float = 0.0
    ) -> Transfer:
        """Start moving ``bytes_per_pair`` over each GPU pair of ``path``; ``on_done()`` when through and
        the path's latency (plus ``extra_latency_s``, a software cost) has passed."""
        self._advance()
        transfer = Transfer(path, bytes_per_pair, efficiency, on_done, self.capacity)
        transfer.latency_s += extra_latency_s
        self.transfers.append(transfer)
        self._join(transfer)
        self.transferred_bytes += bytes_per_pair * sum(c for link, c in path.links.items() if link[0] in ("up_tx", "nic_tx"))
        self.update()
        return transfer

    def update(self) -> None:
        """Recompute every present flow's rate; tell workers whose rate changed; schedule the next finish."""
        self._advance()
        self.updates += 1
        flows: list[Flow] = [f for f in self.worker_flows if f.active]
        flows += self.transfers
        shared_links: dict[Flow, dict[Link, float]] = {flow: {} for flow in flows}
        for link in self._shared:
            for flow, coef in self._users[link].items():
                shared_links[flow][link] = coef
        caps = []
        for flow in flows:  # the tightest link a flow has to itself bounds it like a cap
            private = next((limit for limit, link in flow.by_limit if link not in self._shared), math.inf)
            caps.append(min(flow.cap, private))
        capacity = {link: self.capacity(link) for link in self._shared}
        rates = max_min_rates(capacity, [(shared_links[flow], cap) for flow, cap in zip(flows, caps)])
        changed = []
        for flow, rate in zip(flows, rates):
            if flow.rate != rate:
                flow.rate = rate
                if isinstance(flow, WorkerFlow):
                    changed.append(flow)
        self._schedule()
        for flow in changed:
            flow.on_rate(flow.rate)

    def _advance(self) -> None:
        """Move the transfers' bytes from the last change to now."""
        now = self.env.now
        dt = now - self._last_s
        self._last_s = now
        if dt <= 0:
            return
        for t in self.transfers:
            moved = min(t.remaining, t.efficiency * t.rate * dt)
            t.remaining -= moved
            for link, coef in t.links.items():
                self.link_bytes[link] = self.link_bytes.get(link, 0.0) + coef * moved

    def _schedule(self) -> None:
        self._epoch += 1
        if self.transfers:
            finish_s = min(t.remaining / (t.efficiency * t.rate) for t in self.transfers)
            self.env.call_in(finish_s, self._on_finish, self._epoch)

    def _on_finish(self, epoch: int) -> None:
        if epoch != self._epoch:
            return  # rates changed since: a later finish was scheduled
        self.timer_events += 1
        self._advance()
        # Done: its bytes are through, up to rounding, or what is left would not move the clock (late in a long
        # run a step of the clock exceeds 1e-12 s, and a finish rescheduled at now would fire forever).
        tolerance_s = max(1e-12, math.ulp(self.env.now))
        done = [t for t in self.transfers if t.remaining <= 1e-9 * t.bytes or t.remaining / (t.efficiency * t.rate) <= tolerance_s]
        for t in done:
            moved, t.remaining = t.remaining, 0.0
            for link, coef in t.links.items():
                self.link_bytes[link] = self.link_bytes.get(link, 0.0) + coef * moved
        self.transfers = [t for t in self.transfers if t.remaining > 0]
        for t in done:
            self._leave(t)
        self.update()
        for t in done:
            self.env.call_in(t.latency_s, _call, t.on_done)

    def link_utilisation(self, worker_link_bytes: dict[Link, float], duration_s: float) -> dict[Link, float]:
        """Time-averaged utilisation of every link that carried bytes, transfers' and workers' together."""
        if duration_s <= 0:
            return {}
        total = dict(self.link_bytes)
        for link, moved in worker_link_bytes.items():
            total[link] = total.get(link, 0.0) + moved
        return {link: moved / (self.capacity(link) * duration_s) for link, moved in total.items()}


def _call(callback: Callable[[], None]) -> None:
    callback()


def shared(flows: list[dict[Link, float]], others: set[Link]) -> list[bool]:
    """Which of ``flows`` share a link with another of them or with ``others`` (the links transfers may
    use): only those need the fabric; the rest have their links to themselves."""
    users: dict[Link, int] = {link: 1 for link in others}
    for links in flows:
        for link in links:
            users[link] = users.get(link, 0) + 1
    return [any(users[link] > 1 for link in links) for links in flows]


def utilisation_max(utilisation: dict[Link, float]) -> float:
    """The busiest link's time-averaged utilisation (0 with no traffic)."""
    return max(utilisation.values(), default=0.0) if not any(math.isnan(u) for u in utilisation.values()) else math.nan
