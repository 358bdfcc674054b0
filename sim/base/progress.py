"""Progress of long work (a simulation, a validation, a sweep, an aggregation): a bar with an ETA on a
terminal, plain log lines elsewhere (CI, files, a job's log).

Short work shows nothing: the bar appears after ``delay_s`` seconds, and the first log line after
``every_s`` seconds, then one every ``every_s`` seconds.
"""

from __future__ import annotations

import sys
import time


class Progress:
    """How far some work is: ``update(done)`` with the amount done so far (of ``total``, if known)."""

    def __init__(self, what: str, total: float | None = None, unit: str = "", enabled: bool = True,
                 delay_s: float = 5.0, every_s: float = 10.0):
        self.what, self.total, self.unit = what, total, unit
        self.enabled, self.delay_s, self.every_s = enabled, delay_s, every_s
        self.start = time.monotonic()
        self.next_log = self.start + max(delay_s, every_s)
        self.bar = None
        self.done = 0.0
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=what, unit=unit, delay=delay_s, leave=False, dynamic_ncols=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, done: float) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(done - self.done)
        self.done = done
        now = time.monotonic()
        if self.bar is None and now >= self.next_log:
            self.next_log = now + self.every_s
            print(self.line(now), file=sys.stderr, flush=True)

    def line(self, now: float) -> str:
        elapsed = now - self.start
        if not self.total or self.done > self.total:
            return f"{self.what}: {self.done:,.0f} {self.unit} in {elapsed:.0f} s"
        share = self.done / self.total
        eta = f", about {elapsed * (1 - share) / share:.0f} s to go" if share > 0 else ""
        return f"{self.what}: {self.done:,.0f} of {self.total:,.0f} {self.unit} ({share:.0%}) in {elapsed:.0f} s{eta}"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
