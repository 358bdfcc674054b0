"""Many independent simulations on all cores: the engine of every search in the planning layer.

A :class:`Runner` owns one pool of worker processes (started with ``spawn``, so no state leaks in from
the parent) for the life of a search, and runs batches of configurations on it. Each run's outcome is
its ``metrics`` dict, or the one-line reason the simulator refused or failed it; one failure never
stops the others. Results come back in the order the configurations were given, whatever order the
processes finished in, and every run is seeded by its own configuration, so a search gives the same
results on one core or many.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass, field
from typing import Sequence

from sim.base.config import ConfigError, SimConfig


@dataclass(frozen=True)
class Outcome:
    """What one simulation gave: its metrics, or why there are none."""

    metrics: dict = field(default_factory=dict)
    error: str | None = None
    cpu_s: float = 0.0  # CPU seconds of building and simulating it (its process's, so a busy machine does not inflate it)

    @property
    def ok(self) -> bool:
        return self.error is None


def simulate_one(cfg: SimConfig) -> Outcome:
    """Build and run one configuration; a refusal or failure becomes the outcome's ``error``."""
    from sim.run.simulation import Simulation, build

    start = time.process_time()
    try:
        return Outcome(Simulation(build(cfg)).run().metrics, cpu_s=time.process_time() - start)
    except ConfigError as err:
        return Outcome(error=str(err), cpu_s=time.process_time() - start)
    except Exception as err:  # one failing point must not stop a search: report it
        return Outcome(error=f"simulation failed: {type(err).__name__}: {err}", cpu_s=time.process_time() - start)


def _cost(cfg: SimConfig) -> float:
    """A rough relative cost of simulating ``cfg`` (requests times tokens), to start the longest first."""
    wl = cfg.workload
    return wl.num_requests * (wl.input_tokens / 8 + wl.output_tokens)


class Runner:
    """A pool of ``processes`` simulation processes (default: all cores; 1 runs in this process)."""

    def __init__(self, processes: int | None = None):
        self.processes = max(1, processes or os.cpu_count() or 1)
        self._pool = None
        self.runs = 0
        self.cpu_s = 0.0  # CPU seconds of building and simulating, summed over runs

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def run(self, configs: Sequence[SimConfig]) -> list[Outcome]:
        """Simulate every configuration; outcomes in the same order."""
        if not configs:
            return []
        if self.processes == 1 or len(configs) == 1:
            outcomes = [simulate_one(cfg) for cfg in configs]
        else:
            if self._pool is None:
                self._pool = multiprocessing.get_context("spawn").Pool(self.processes)
            order = sorted(range(len(configs)), key=lambda i: -_cost(configs[i]))
            done = self._pool.map(simulate_one, [configs[i] for i in order], chunksize=1)
            outcomes = [Outcome()] * len(configs)
            for i, outcome in zip(order, done):
                outcomes[i] = outcome
        self.runs += len(outcomes)
        self.cpu_s += sum(o.cpu_s for o in outcomes)
        return outcomes
