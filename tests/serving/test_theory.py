"""The simulator against queueing theory: M/D/1 (Pollaczek-Khinchine), Little's law, M/D/c."""

from __future__ import annotations

import numpy as np
import pytest

from sim.serving.requests import Status
from sim.run.simulation import Simulation, build
from tests.conftest import queue_config

pytestmark = pytest.mark.theory


def run_queue(rate_rps: float, racks: int = 1, n: int = 60_000, seed: int = 1):
    cfg = queue_config(f"workload.rate_rps={rate_rps}", f"workload.num_requests={n}", f"fleet.racks={racks}", f"seed={seed}")
    return Simulation(build(cfg))


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_md1_mean_wait_matches_pollaczek_khinchine(rho):
    service_s = 1.0
    sim = run_queue(rho / service_s)
    sim.run()
    req = sim.requests
    assert (req.status == Status.COMPLETED).all()
    wait_s = req.first_token_s - req.arrival_s - service_s  # TTFT = wait + the one iteration
    warm = len(wait_s) // 10
    theory = rho * service_s / (2 * (1 - rho))  # Pollaczek-Khinchine, deterministic service
    assert wait_s[warm:].mean() == pytest.approx(theory, rel=0.05)
    # and the server is busy a fraction rho of the time
    assert sim.engines[0].busy_s / sim.env.now == pytest.approx(rho, rel=0.02)


def test_littles_law_holds_with_an_independent_count():
    """Time-average number in system (sampled from the engines' live state) = arrival rate x mean sojourn."""
    sim = run_queue(0.7, n=40_000, seed=3)
    samples = []

    def sampler(env, every_s=0.25):
        while True:
            samples.append(sum(e.outstanding for e in sim.engines))
            yield env.timeout(every_s)

    sim.env.process(sampler(sim.env))
    horizon_s = float(sim.stream.arrival_s[-1])
    sim.env.run(until=horizon_s)
    sim.finish()
    req = sim.requests
    done = req.status == Status.COMPLETED
    # Sojourn of every arrived request, truncated at the horizon for those still in the system.
    end_s = np.where(done, req.finish_s, horizon_s)
    arrived = req.arrival_s <= horizon_s
    sojourn_s = (end_s - req.arrival_s)[arrived]
    rate = arrived.sum() / horizon_s
    assert np.mean(samples) == pytest.approx(rate * sojourn_s.mean(), rel=0.02)


def test_mdc_wait_falls_as_servers_are_added():
    """Batching off, c workers at a fixed arrival rate: mean and p99 wait never grow with c."""
    means, p99s = [], []
    for workers in (1, 2, 3, 4):
        sim = run_queue(0.9, racks=workers, n=30_000, seed=5)
        sim.run()
        wait = sim.requests.first_token_s - sim.requests.arrival_s - 1.0
        means.append(wait.mean())
        p99s.append(np.percentile(wait, 99))
    assert all(a > b for a, b in zip(means, means[1:])), means
    assert all(a >= b for a, b in zip(p99s, p99s[1:])), p99s
    # One server: Pollaczek-Khinchine again; two servers at rho=0.45 wait far less than one.
    assert means[0] == pytest.approx(0.9 / (2 * 0.1), rel=0.1)
    assert means[1] < 0.2 * means[0]
