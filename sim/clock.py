"""The simulation clock: a SimPy environment with a fast lane for the fleet's own wake-ups.

Every SimPy event is an object with a callback list, a value and an outcome, which a serving fleet pays
for millions of times per simulated hour (each request arrives, joins a batch at an iteration boundary
and completes). :class:`FleetEnvironment` keeps SimPy's calendar and semantics, so processes, timeouts
and conditions work as usual beside the engines, and adds :meth:`FleetEnvironment.call_at` (and ``call_in``): a plain
function call scheduled on the same calendar, in the same order a :class:`simpy.Timeout` scheduled at
that moment would take (time, then priority, then scheduling order), without the event object.
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Any, Callable

import simpy
from simpy.events import NORMAL


class FleetEnvironment(simpy.Environment):
    """A :class:`simpy.Environment` that can also schedule plain calls ``callback(arg)``."""

    def call_in(self, delay_s: float, callback: Callable[[Any], None], arg: Any = None) -> None:
        """Call ``callback(arg)`` when the clock reaches now + ``delay_s`` (``delay_s`` ≥ 0)."""
        heappush(self._queue, (self._now + delay_s, NORMAL, next(self._eid), (callback, arg)))

    def call_at(self, time_s: float, callback: Callable[[Any], None], arg: Any = None) -> None:
        """Call ``callback(arg)`` when the clock reaches ``time_s`` (not before now)."""
        heappush(self._queue, (time_s, NORMAL, next(self._eid), (callback, arg)))

    def step(self) -> None:
        """Make the scheduled calls due before the next SimPy event, then process that event.

        Calls run inline, one after the other (the scheduler of a busy fleet does little else); a SimPy
        event is processed by :meth:`simpy.Environment.step`, so ``run(until=...)`` and every kind of
        event behave as in SimPy. :class:`simpy.core.EmptySchedule` is raised when nothing is left.
        """
        queue = self._queue
        while queue:
            entry = heappop(queue)
            call = entry[3]
            if call.__class__ is not tuple:
                heappush(queue, entry)  # back where it was: SimPy processes it
                break
            self._now = entry[0]
            call[0](call[1])
        super().step()
