"""Workloads: when requests arrive and how long they are.

Two arrival processes:

* ``poisson``: open loop. Requests arrive at exponential intervals at ``rate_rps``, or at
  ``load_fraction`` of the fleet's estimated capacity (so one preset means the same load on any fleet).
  All arrival times are drawn up front.
* ``closed_loop``: ``concurrency`` clients each keep one request outstanding and send the next as soon
  as the last one completes (as public serving benchmarks do).

Input and output lengths are ``fixed`` at the nominal L, ``uniform`` in [0.8·L, L], or ``lognormal``
with median L. Each stochastic element draws from its own generator, spawned from one
``SeedSequence``, so two fleets offered the same workload and seed see the same requests (common
random numbers).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from sim.base.bounds import run_estimate
from sim.base.config import ConfigError, WorkloadConfig

ARRIVALS = ("poisson", "closed_loop")
LENGTH_DISTS = ("fixed", "uniform", "lognormal")


def machine_memory_bytes() -> float:
    """Physical memory of the machine running the simulation (inf where the system does not say)."""
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def validate_workload(cfg: WorkloadConfig) -> None:
    """Reject a workload that cannot be simulated, saying which value to change (each number's own range
    is checked on the schema; here, how they fit together, and whether the requests fit in memory)."""
    if cfg.arrival not in ARRIVALS:
        raise ConfigError(f"workload.arrival={cfg.arrival!r} is unknown; use one of {list(ARRIVALS)}")
    if cfg.length_dist not in LENGTH_DISTS:
        raise ConfigError(f"workload.length_dist={cfg.length_dist!r} is unknown; use one of {list(LENGTH_DISTS)}")
    memory = machine_memory_bytes()
    if 550 * cfg.num_requests > 0.8 * memory:  # bytes per request: the README's Speed section
        raise ConfigError(
            f"workload.num_requests={cfg.num_requests:,} would not fit in this machine's {memory / 1e9:.0f} GB of memory: "
            f"the run would take {run_estimate(cfg.num_requests)}; lower workload.num_requests "
            f"(at most about {0.8 * memory / 550:,.0f} here)"
        )
    if cfg.arrival == "poisson":
        if (cfg.rate_rps is None) == (cfg.load_fraction is None):
            raise ConfigError(
                "a poisson workload needs exactly one of workload.rate_rps (requests per second) and "
                "workload.load_fraction (fraction of the fleet's capacity); set the other to null"
            )
    else:
        if cfg.rate_rps is not None or cfg.load_fraction is not None:
            raise ConfigError(
                "closed-loop arrivals follow completions, so a rate means nothing here: set "
                "workload.rate_rps=null workload.load_fraction=null (the closed_loop preset does)"
            )
    if cfg.steady_state and cfg.warmup_requests is not None:  # None: the warm-up is found by MSER-5 after the run
        # the window runs from the warm-up's last completion to the last arrival, which in a closed loop
        # comes when the last `concurrency` requests are still to complete
        in_flight_at_end = min(cfg.concurrency, cfg.num_requests) if cfg.arrival == "closed_loop" else 0
        if not 0 <= cfg.warmup_requests < cfg.num_requests - in_flight_at_end:
            raise ConfigError(
                f"workload.warmup_requests={cfg.warmup_requests} leaves no steady state to measure among "
                f"{cfg.num_requests} requests" + (f" of {cfg.concurrency} clients" if in_flight_at_end else "")
                + "; raise workload.num_requests (benchmark mode: about 6 per client) or lower workload.warmup_requests"
            )


def max_length(nominal: int, dist: str, sigma: float) -> int:
    """The longest length the distribution can draw (lognormal: capped at e^(4σ) times the median)."""
    if dist == "lognormal":
        return int(np.ceil(nominal * np.exp(4 * sigma)))
    return nominal


def mean_length(nominal: int, dist: str, sigma: float) -> float:
    if dist == "fixed":
        return float(nominal)
    if dist == "uniform":
        low = max(1, int(np.floor(0.8 * nominal)))
        return (low + nominal) / 2
    return float(nominal * np.exp(sigma**2 / 2))


def draw_lengths(rng: np.random.Generator, n: int, nominal: int, dist: str, sigma: float) -> np.ndarray:
    """``n`` integer lengths of at least one token."""
    if dist == "fixed":
        return np.full(n, nominal, dtype=np.int64)
    if dist == "uniform":
        low = max(1, int(np.floor(0.8 * nominal)))
        return rng.integers(low, nominal, size=n, endpoint=True, dtype=np.int64)
    draws = nominal * np.exp(sigma * rng.standard_normal(n))
    return np.clip(np.rint(draws), 1, max_length(nominal, dist, sigma)).astype(np.int64)


@dataclass(frozen=True)
class RequestStream:
    """The requests of one run: lengths for all, arrival times for open-loop traffic."""

    input_tokens: np.ndarray
    output_tokens: np.ndarray
    arrival_s: np.ndarray | None  # None: closed loop, arrivals follow completions
    rate_rps: float | None


def draw_requests(cfg: WorkloadConfig, seed: np.random.SeedSequence, capacity_rps: float) -> RequestStream:
    """Draw the run's requests; ``capacity_rps`` turns a ``load_fraction`` into a rate."""
    arrival_seed, input_seed, output_seed = seed.spawn(3)
    n = cfg.num_requests
    inputs = draw_lengths(np.random.default_rng(input_seed), n, cfg.input_tokens, cfg.length_dist, cfg.lognormal_sigma)
    outputs = draw_lengths(np.random.default_rng(output_seed), n, cfg.output_tokens, cfg.length_dist, cfg.lognormal_sigma)
    if cfg.arrival == "closed_loop":
        return RequestStream(inputs, outputs, None, None)
    rate = cfg.rate_rps if cfg.rate_rps is not None else cfg.load_fraction * capacity_rps
    gaps = np.random.default_rng(arrival_seed).exponential(1.0 / rate, size=n)
    return RequestStream(inputs, outputs, np.cumsum(gaps), rate)
