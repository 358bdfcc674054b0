"""The router in front of the workers: it picks a worker for each arriving request.

``round_robin`` cycles through the workers; ``least_outstanding`` picks the worker with the fewest
requests queued or running (ties to the lowest index). With ``fleet.max_queue_per_worker`` set, a
request whose chosen worker already has that many waiting is dropped.
"""

from __future__ import annotations

from sim.engine import Engine
from sim.requests import RequestTable, Status


class Router:
    """Dispatches request ids to engines."""

    def __init__(self, engines: list[Engine], policy: str, max_queue_per_worker: int, requests: RequestTable):
        self.engines = engines
        self.policy = policy
        self.max_queue = max_queue_per_worker
        self.requests = requests
        self._next = 0
        self.dropped = 0

    def _choose(self) -> Engine:
        if self.policy == "round_robin":
            engine = self.engines[self._next]
            self._next = (self._next + 1) % len(self.engines)
            return engine
        return min(self.engines, key=lambda e: e.outstanding)

    def dispatch(self, rid: int) -> bool:
        """Send a request to a worker; False if it was dropped."""
        engine = self._choose()
        if self.max_queue and engine.queued >= self.max_queue:
            self.requests.status[rid] = Status.DROPPED
            self.dropped += 1
            return False
        engine.submit(rid)
        return True
