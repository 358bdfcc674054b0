"""The simulation clock: a SimPy environment with a fast lane for the fleet's own wake-ups.

Every SimPy event is an object with a callback list, a value and an outcome, which a serving fleet pays
for millions of times per simulated hour (each request arrives, joins a batch at an iteration boundary
and completes). :class:`FleetEnvironment` keeps SimPy's calendar and semantics, so processes, timeouts
and conditions work as usual beside the engines, and adds two cheaper ways to schedule work:

* :meth:`FleetEnvironment.call_at` (and ``call_in``): a plain function call scheduled on the same
  calendar, in the same order a :class:`simpy.Timeout` scheduled at that moment would take (time, then
  priority, then scheduling order), without the event object;
* :meth:`FleetEnvironment.call_at_each`: a sequence of calls at times known in advance (open-loop
  arrivals), merged with the calendar as the clock advances rather than put on it one by one. At equal
  times these calls come first.
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Any, Callable

import simpy
from simpy.events import NORMAL


class FleetEnvironment(simpy.Environment):
    """A :class:`simpy.Environment` that can also schedule plain calls ``callback(arg)``."""

    def __init__(self, initial_time: float = 0):
        super().__init__(initial_time)
        self._each_times_s: list[float] = []  # call_at_each: the times, the callback and the next index
        self._each_callback: Callable[[int], None] | None = None
        self._each_next = 0

    def call_in(self, delay_s: float, callback: Callable[[Any], None], arg: Any = None) -> None:
        """Call ``callback(arg)`` when the clock reaches now + ``delay_s`` (``delay_s`` ≥ 0)."""
        heappush(self._queue, (self._now + delay_s, NORMAL, next(self._eid), (callback, arg)))

    def call_at(self, time_s: float, callback: Callable[[Any], None], arg: Any = None) -> None:
        """Call ``callback(arg)`` when the clock reaches ``time_s`` (not before now)."""
        heappush(self._queue, (time_s, NORMAL, next(self._eid), (callback, arg)))

    def call_at_each(self, times_s: list[float], callback: Callable[[int], None]) -> None:
        """Call ``callback(i)`` when the clock reaches ``times_s[i]``, for i = 0, 1, ... in turn.

        ``times_s`` is non-decreasing and starts at or after now. At a time shared with calendar
        entries, these calls are made first (before the stop of ``run(until=t)`` at exactly t too).
        One such sequence at a time; a call may start the next one once the last call has begun.
        """
        if self._each_next < len(self._each_times_s):
            raise RuntimeError("call_at_each: the previous sequence of calls is not finished")
        if any(later < earlier for earlier, later in zip(times_s, times_s[1:])) or (times_s and times_s[0] < self._now):
            raise ValueError("call_at_each: times must be non-decreasing and not before now")
        self._each_times_s, self._each_callback, self._each_next = times_s, callback, 0

    def peek(self) -> float:
        """Time of the next scheduled call or event (infinity if there is none)."""
        queued = super().peek()
        i = self._each_next
        return min(queued, self._each_times_s[i]) if i < len(self._each_times_s) else queued

    def step(self) -> None:
        """Make the scheduled calls due before the next SimPy event, then process that event.

        Calls run inline, one after the other (the scheduler of a busy fleet does little else); a SimPy
        event is processed by :meth:`simpy.Environment.step`, so ``run(until=...)`` and every kind of
        event behave as in SimPy. :class:`simpy.core.EmptySchedule` is raised when nothing is left.
        """
        queue = self._queue
        while True:
            i, each_times_s = self._each_next, self._each_times_s  # (a call may start a new sequence)
            if i < len(each_times_s) and (not queue or each_times_s[i] <= queue[0][0]):
                self._each_next = i + 1
                self._now = each_times_s[i]
                self._each_callback(i)
                continue
            if not queue:
                break
            entry = heappop(queue)
            call = entry[3]
            if call.__class__ is not tuple:
                heappush(queue, entry)  # back where it was: SimPy processes it
                break
            self._now = entry[0]
            call[0](call[1])
        super().step()
