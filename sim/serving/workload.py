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

from dataclasses import dataclass

import numpy as np

from sim.config import ConfigError, WorkloadConfig

ARRIVALS = ("poisson", "closed_loop")
LENGTH_DISTS = ("fixed", "uniform", "lognormal")


def validate_workload(cfg: WorkloadConfig) -> None:
    """Reject a workload that cannot be simulated, saying which value to change."""
    if cfg.arrival not in ARRIVALS:
        raise ConfigError(f"workload.arrival={cfg.arrival!r} is unknown; use one of {list(ARRIVALS)}")
    if cfg.length_dist not in LENGTH_DISTS:
        raise ConfigError(f"workload.length_dist={cfg.length_dist!r} is unknown; use one of {list(LENGTH_DISTS)}")
    for key in ("num_requests", "input_tokens", "output_tokens"):
        if getattr(cfg, key) <= 0:
            raise ConfigError(f"workload.{key}={getattr(cfg, key)} must be a positive integer")
    if cfg.arrival == "poisson":
        if (cfg.rate_rps is None) == (cfg.load_fraction is None):
            raise ConfigError(
                "a poisson workload needs exactly one of workload.rate_rps (requests per second) and "
                "workload.load_fraction (fraction of the fleet's capacity); set the other to null"
            )
        if cfg.rate_rps is not None and not cfg.rate_rps > 0:
            raise ConfigError(f"workload.rate_rps={cfg.rate_rps} must be positive")
        if cfg.load_fraction is not None and not cfg.load_fraction > 0:
            raise ConfigError(f"workload.load_fraction={cfg.load_fraction} must be positive")
    else:
        if cfg.concurrency <= 0:
            raise ConfigError(f"workload.concurrency={cfg.concurrency} must be a positive integer")
        if cfg.rate_rps is not None or cfg.load_fraction is not None:
            raise ConfigError(
                "closed-loop arrivals follow completions, so a rate means nothing here: set "
                "workload.rate_rps=null workload.load_fraction=null (the closed_loop preset does)"
            )
    if cfg.steady_state:
        # the window runs from the warm-up's last completion to the last arrival, which in a closed loop
        # comes when the last `concurrency` requests are still to complete
        in_flight_at_end = min(cfg.concurrency, cfg.num_requests) if cfg.arrival == "closed_loop" else 0
        if not 0 <= cfg.warmup_requests < cfg.num_requests - in_flight_at_end:
            raise ConfigError(
                f"workload.warmup_requests={cfg.warmup_requests} leaves no steady state to measure among "
                f"{cfg.num_requests} requests" + (f" of {cfg.concurrency} clients" if in_flight_at_end else "")
                + "; raise workload.num_requests (benchmark mode: about 6 per client) or lower workload.warmup_requests"
            )
    if cfg.length_dist == "lognormal" and not 0 < cfg.lognormal_sigma <= 3:
        raise ConfigError(f"workload.lognormal_sigma={cfg.lognormal_sigma} must be in (0, 3]")
    if not (cfg.slo.ttft_s > 0 and cfg.slo.tpot_s > 0):
        raise ConfigError(
            f"the SLO limits must be positive seconds (workload.slo.ttft_s={cfg.slo.ttft_s}, "
            f"workload.slo.tpot_s={cfg.slo.tpot_s})"
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
