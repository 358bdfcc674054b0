"""The router in front of the workers: it picks a worker for each arriving request.

``round_robin`` cycles through the workers; ``least_outstanding`` picks the worker with the fewest
requests queued or running (ties to the lowest index), from a counter array it keeps itself, so a
choice costs one vectorised argmin however many workers there are. With ``fleet.max_queue_per_worker``
set, a request whose chosen worker already has that many waiting is dropped.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from sim.serving.engine import Engine
from sim.serving.requests import RequestTable, Status

_DROPPED = int(Status.DROPPED)


class Router:
    """Dispatches request ids to engines and counts what each has outstanding."""

    def __init__(
        self,
        engines: list[Engine],
        policy: str,
        max_queue_per_worker: int,
        requests: RequestTable,
        on_drop: Callable[[int], None] = lambda rid: None,
        first_worker_id: int = 0,
    ):
        self.engines = engines
        self.on_drop = on_drop
        self.least_outstanding = policy == "least_outstanding"
        self.max_queue = max_queue_per_worker
        self.requests = requests
        self.outstanding = np.zeros(len(engines), dtype=np.int64)  # queued + running, per worker
        self.first_worker_id = first_worker_id  # engines[i] is worker first_worker_id + i
        self._next = 0
        self.dropped = 0

    def dispatch(self, rid: int, kv_ready: bool = False) -> bool:
        """Send a request to a worker; False if it was dropped."""
        engine = self.reserve(rid)
        if engine is None:
            return False
        engine.submit(rid, kv_ready)
        return True

    def reserve(self, rid: int) -> Engine | None:
        """Choose the worker a request will go to and count it there (None: dropped). A disaggregated
        request is submitted once its KV cache has reached the worker chosen."""
        if self.least_outstanding:
            worker = int(self.outstanding.argmin())
        else:
            worker = self._next
            self._next = (worker + 1) % len(self.engines)
        engine = self.engines[worker]
        if self.max_queue and engine.queued >= self.max_queue:
            self.requests.status[rid] = _DROPPED
            self.dropped += 1
            self.on_drop(rid)
            return None
        self.outstanding[worker] += 1
        return engine

    def completed(self, worker: int) -> None:
        """A request of ``worker`` (its fleet-wide id) completed, or left this pool."""
        self.outstanding[worker - self.first_worker_id] -= 1
