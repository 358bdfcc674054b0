"""Sizing a fleet for a demand at an SLO: the smallest number of copies of a layout that meets it, and
the inverse, the most demand a given fleet sustains.

A **candidate** is a platform, precision and layout with a batch limit per worker (from the frontier
point that meets the SLO's time per output token). A fleet is ``units`` copies of the layout (an
aggregated worker, or a disaggregated group of prefill and decode workers). It is simulated **open
loop**: Poisson arrivals at the demand's rate, lengths as the workload draws them, measured in steady
state (from where the MSER-5 rule finds the warm-up over to the last arrival). It **meets the SLO**
when, for every seed, the share of requests completed within both limits (TTFT and TPOT) reaches the
attainment target: with a 99 % target, the p99 of both. A finite run sees an overload ε (arrivals ε above
what the fleet serves) only once the waits it adds, about ε per second of arrivals, pass the TTFT limit:
with 150 s of arrivals and a 2 s limit, overloads above about 1.3 % (``duration_s`` sets it).

:class:`Sizing` finds the smallest such fleet, assuming more units never do worse: it starts at the
fleet whose saturated throughput matches the demand, grows by a quarter until the SLO is met, then
bisects; it gives up (the SLO is out of reach) once a fleet of many times that size still misses it.
Each step runs the seeds one after the other only as far as needed: a miss on one seed settles it.
:func:`size_all` runs the steps of many candidates together, one round at a time, on all cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from sim.base.config import ConfigError, SimConfig
from sim.planning.layouts import Layout
from sim.planning.runs import Outcome, Runner

#: A fleet this many times the saturated-throughput estimate that still misses the SLO: out of reach.
GIVE_UP_FACTOR = 16


@dataclass(frozen=True)
class Slo:
    """The service level: limits on TTFT and TPOT, met together by an ``attainment`` share of requests."""

    ttft_s: float = 2.0
    tpot_s: float = 0.05
    attainment: float = 0.99

    def __post_init__(self):
        if not (self.ttft_s > 0 and self.tpot_s > 0) or not 0 < self.attainment <= 1:
            raise ConfigError(
                f"the SLO needs positive limits and an attainment in (0, 1] (TTFT {self.ttft_s} s, TPOT {self.tpot_s} s, "
                f"attainment {self.attainment}); e.g. --ttft 2 --tpot 0.05 --attainment 0.99"
            )

    def describe(self) -> str:
        return f"{100 * self.attainment:g} % of requests within TTFT {self.ttft_s:g} s and TPOT {1000 * self.tpot_s:g} ms"


@dataclass(frozen=True)
class Candidate:
    """What may serve the demand: a layout on a platform at a precision (``base`` holds them)."""

    label: str
    base: SimConfig  # an open-loop configuration of the platform, model, precision, workload and cost
    layout: Layout
    batch_per_worker: int
    rps_per_unit: float  # saturated requests per second of one unit at that batch (from its frontier point)


def open_loop(candidate: Candidate, units: int, rate_rps: float, seed: int, duration_s: float, slo: Slo) -> SimConfig:
    """``units`` copies of the candidate's layout offered ``rate_rps`` Poisson arrivals for ``duration_s``."""
    layout = candidate.layout.scaled(units)
    base = candidate.base
    requests = max(2000, int(rate_rps * duration_s))
    batch = candidate.batch_per_worker
    return replace(
        base,
        worker=layout.worker, prefill_worker=layout.prefill_worker,
        fleet=replace(base.fleet, workers=layout.workers, prefill_workers=layout.prefill_workers),
        engine=replace(base.engine, max_batch_size=batch, max_tokens_per_iteration=layout.token_budget(base, batch),
                       speculative=replace(base.engine.speculative, method=layout.spec)),
        workload=replace(base.workload, arrival="poisson", rate_rps=rate_rps, load_fraction=None, num_requests=requests,
                         steady_state=True, warmup_requests=None, slo=replace(base.workload.slo, ttft_s=slo.ttft_s, tpot_s=slo.tpot_s)),
        seed=seed,
    )


@dataclass
class Evaluation:
    """A fleet of ``units`` at one rate over the seeds run so far."""

    units: int
    outcomes: list[Outcome] = field(default_factory=list)

    def met(self, slo: Slo) -> bool:
        return all(o.ok and o.metrics["slo_attainment"] >= slo.attainment for o in self.outcomes)

    @property
    def worst(self) -> dict:
        """The worst seed's figures: lowest attainment, highest p99 TTFT and TPOT."""
        ok = [o.metrics for o in self.outcomes if o.ok]
        if not ok:
            return {}
        return {"slo_attainment": min(m["slo_attainment"] for m in ok), "ttft_s_p99": max(m["ttft_s_p99"] for m in ok),
                "tpot_s_p99": max(m["tpot_s_p99"] for m in ok)}


class Sizing:
    """The search for the smallest fleet of one candidate meeting the SLO at ``rate_rps``."""

    def __init__(self, candidate: Candidate, rate_rps: float, slo: Slo, seeds: int, duration_s: float):
        self.candidate, self.rate_rps, self.slo, self.seeds, self.duration_s = candidate, rate_rps, slo, seeds, duration_s
        self.start = max(1, math.ceil(rate_rps / candidate.rps_per_unit))
        self.limit = GIVE_UP_FACTOR * self.start + 4
        self.lo, self.hi = 0, None  # largest fleet known to miss, smallest known to meet
        self.evaluations: dict[int, Evaluation] = {}
        self.current: Evaluation | None = None
        self.error: str | None = None

    @property
    def done(self) -> bool:
        return self.error is not None or (self.current is None and self._next_units() is None)

    @property
    def units(self) -> int | None:
        """The smallest fleet found to meet the SLO (None until found, or if out of reach)."""
        return self.hi if self.done and self.error is None else None

    def _next_units(self) -> int | None:
        if self.hi is None:
            n = self.start if self.lo == 0 else max(self.lo + 1, math.ceil(self.lo * 1.25))
            return n if n <= self.limit else None
        return (self.lo + self.hi) // 2 if self.hi - self.lo > 1 else None

    def next_config(self) -> SimConfig | None:
        """The configuration to simulate next (None when done)."""
        if self.error is not None:
            return None
        if self.current is None:
            units = self._next_units()
            if units is None:
                if self.hi is None:
                    self.error = "out of reach"
                return None
            self.current = self.evaluations.setdefault(units, Evaluation(units))
        seed = len(self.current.outcomes)
        return open_loop(self.candidate, self.current.units, self.rate_rps, seed, self.duration_s, self.slo)

    def record(self, outcome: Outcome) -> None:
        evaluation = self.current
        evaluation.outcomes.append(outcome)
        if not outcome.ok:
            self.error, self.current = outcome.error, None
            return
        if not evaluation.met(self.slo):
            self.lo, self.current = max(self.lo, evaluation.units), None
        elif len(evaluation.outcomes) == self.seeds:
            self.hi, self.current = evaluation.units if self.hi is None else min(self.hi, evaluation.units), None

    def closest(self) -> Evaluation | None:
        """The evaluated fleet closest to meeting the SLO (for the message when none does)."""
        tried = [e for e in self.evaluations.values() if e.worst]
        return max(tried, key=lambda e: (e.worst["slo_attainment"], -e.units), default=None)


def size_all(sizings: list[Sizing], runner: Runner) -> None:
    """Advance every sizing to its end, one simulation each per round, all in parallel."""
    while True:
        jobs = [(s, cfg) for s in sizings if (cfg := s.next_config()) is not None]
        if not jobs:
            return
        for (s, _), outcome in zip(jobs, runner.run([cfg for _, cfg in jobs])):
            s.record(outcome)


def max_rate(candidate: Candidate, units: int, slo: Slo, runner: Runner, seeds: int = 3, duration_s: float = 150.0,
             tolerance: float = 0.02) -> tuple[float, Evaluation | None]:
    """The highest Poisson rate (requests/s) at which ``units`` copies of the candidate meet the SLO on
    every seed, to a relative ``tolerance``, and its evaluation; (0, None) if not even a trickle does."""

    def met(rate: float) -> Evaluation:
        evaluation = Evaluation(units)
        evaluation.outcomes = runner.run([open_loop(candidate, units, rate, seed, duration_s, slo) for seed in range(seeds)])
        return evaluation

    good: tuple[float, Evaluation] | None = None
    bad: float | None = None
    rate = candidate.rps_per_unit * units
    while good is None or bad is None:
        evaluation = met(rate)
        if evaluation.met(slo):
            good = (rate, evaluation)
            rate *= 1.25
        else:
            bad = rate
            rate *= 0.75
            if rate < 1e-3 * candidate.rps_per_unit * units:
                return 0.0, None
        if good is not None and bad is None and good[0] > 64 * candidate.rps_per_unit * units:
            return good  # no limit in sight: report what was reached
    while bad / good[0] - 1 > tolerance:
        rate = math.sqrt(good[0] * bad)
        evaluation = met(rate)
        if evaluation.met(slo):
            good = (rate, evaluation)
        else:
            bad = rate
    return good
