"""The traffic of a serving fleet as flows on its fabric: workers' collectives and KV-cache transfers.

A worker whose links are shared with other flows (:func:`sim.network.fabric.shared`) gets its own
performance model and one flow per kind of link it shares (scale-up ports; NICs and leaf uplinks). The
flows are present while its engine is busy; when the fabric changes their rates, the performance model
takes the new rates and the engine plans again from its next iteration boundary. A disaggregated
request's KV cache moves from the GPU(s) of its prefill worker to those of the decode worker chosen for it
as a transfer over the path between them.
"""

from __future__ import annotations

import math
from typing import Callable

from sim.network.collectives import Collectives
from sim.network.fabric import Fabric, WorkerFlow, shared
from sim.network.links import Link, transfer_links, transfer_path
from sim.serving.engine import Engine
from sim.serving.perf import RooflinePerf


class WorkerLinks:
    """The flows of one worker on shared links, and what follows a change of their rates."""

    def __init__(self, fabric: Fabric, collectives: Collectives, perf: RooflinePerf, scaleup: bool, scaleout: bool):
        self.fabric, self.perf = fabric, perf
        self.engine: Engine | None = None
        self.flows: list[WorkerFlow] = []
        if scaleup:
            self.flows.append(fabric.worker_flow(collectives.scaleup_links, collectives.scaleup_cap_bytes_per_s, self._scaleup_rate))
        if scaleout:
            self.flows.append(fabric.worker_flow(collectives.scaleout_links, math.inf, self._scaleout_rate))

    def on_busy(self, busy: bool) -> None:
        self.fabric.set_active(self.flows, busy)

    def _scaleup_rate(self, bytes_per_s: float) -> None:
        self.perf.set_link_rates(bytes_per_s, self.perf.scaleout_bytes_per_s)
        self._replan()

    def _scaleout_rate(self, bytes_per_s: float) -> None:
        self.perf.set_link_rates(self.perf.scaleup_bytes_per_s, bytes_per_s)
        self._replan()

    def _replan(self) -> None:
        if self.engine is not None:
            self.engine.replan()


def kv_pairs(sources: tuple[int, ...], destinations: tuple[int, ...], rid: int, one_link: bool) -> list[tuple[int, int]]:
    """The GPU pairs a request's KV cache moves over: one pair when one GPU holds it on either side
    (attention data parallelism, or MLA's latent, which every tensor-parallel rank holds whole; the
    request's rank is taken round-robin), else the GQA heads' shards over the GPU pairs of the smaller worker."""
    if one_link:
        return [(sources[rid % len(sources)], destinations[rid % len(destinations)])]
    return list(zip(sources, destinations))


def shared_workers(
    fabric: Fabric, collectives: list[Collectives], rooflines: list[Callable[[], RooflinePerf] | None],
    prefill_gpus: list[int], decode_gpus: list[int],
) -> list[WorkerLinks | None]:
    """The flows of the workers whose links another flow may use (another worker's, or a KV transfer from
    ``prefill_gpus`` to ``decode_gpus``): each gets its own roofline model (``rooflines[i]()`` builds a fresh
    one; None: the worker's model is not a roofline and stays as it is); the others: None."""
    flows: list[dict[Link, float]] = [links for c in collectives for links in (c.scaleup_links, c.scaleout_links)]
    kv_links = transfer_links(fabric.topology, prefill_gpus, decode_gpus) if prefill_gpus else set()
    is_shared = shared(flows, kv_links)
    out: list[WorkerLinks | None] = []
    for n, (c, roofline) in enumerate(zip(collectives, rooflines)):
        up, across = is_shared[2 * n], is_shared[2 * n + 1]
        out.append(WorkerLinks(fabric, c, roofline(), up, across) if (up or across) and roofline is not None else None)
    return out


def start_kv_transfer(
    fabric: Fabric, sources: tuple[int, ...], destinations: tuple[int, ...], rid: int, one_link: bool, kv_bytes: float,
    efficiency: tuple[float, float], software_latency_s: float, on_done: Callable[[], None],
) -> None:
    """Move a request's ``kv_bytes`` of KV cache from its prefill worker's GPUs to its decode worker's, at
    the all-to-all's achieved fraction of the link kind (``efficiency``: scale-up, scale-out)."""
    pairs = kv_pairs(sources, destinations, rid, one_link)
    path = transfer_path(fabric.topology, pairs)
    fabric.start_transfer(path, kv_bytes / len(pairs), efficiency[0] if path.scaleup else efficiency[1], on_done, software_latency_s)
