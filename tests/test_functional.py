"""Functional behaviour of one simulation: capacity helps, seeds reproduce, streams are shared."""

from __future__ import annotations

import numpy as np
import pytest

from sim.run.simulation import Simulation, build, simulate
from tests.conftest import make_config

pytestmark = pytest.mark.functional
SMALL = (
    "platform=h200", "model=deepseek_r1", "precision=fp8", "workload.num_requests=400",
    "workload.output_tokens=256", "output.figure=false", "output.requests_csv=false",
)


def comparable(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "wall_time_s"}


def test_more_racks_never_raise_p99_ttft_at_a_fixed_rate():
    rate = 1.2 * build(make_config(*SMALL)).capacity_rps  # beyond one rack's capacity
    p99 = []
    for racks in (1, 2, 3, 4):  # 1,500 requests: the p99 of the steady-state window is more than its top few
        m = simulate(make_config(*SMALL, "workload.num_requests=1500", "workload.load_fraction=null", f"workload.rate_rps={rate}", f"fleet.racks={racks}")).metrics
        p99.append(m["ttft_s_p99"])
    assert all(a >= b for a, b in zip(p99, p99[1:])), p99
    assert p99[0] > 2 * p99[-1]


@pytest.mark.parametrize(
    "deployment",
    [("platform=h200", "precision=fp8"), ("platform=b200", "model=llama3_70b", "precision=fp8", "worker.tp=2")],
)
def test_the_capacity_estimate_is_the_measured_saturation(deployment):
    """What load_fraction is relative to: offered 3x the estimate, the fleet completes about the estimate."""
    sim = Simulation(build(make_config(*deployment, "workload.num_requests=20000", "workload.load_fraction=3.0",
                                       "output.figure=false")))
    result = sim.run()
    finish = np.sort(result.requests["finish_s"])
    start_s, end_s = 0.3 * finish[-1], 0.7 * finish[-1]  # the saturated middle of the run
    measured_rps = ((finish > start_s) & (finish <= end_s)).sum() / (end_s - start_s)
    assert measured_rps == pytest.approx(sim.deployment.capacity_rps, rel=0.1)


def test_same_seed_same_metrics_and_other_seed_other_metrics():
    a = simulate(make_config(*SMALL, "seed=7"))
    b = simulate(make_config(*SMALL, "seed=7"))
    c = simulate(make_config(*SMALL, "seed=8"))
    assert comparable(a.metrics) == comparable(b.metrics)
    for col in ("arrival_s", "first_token_s", "finish_s", "cost_usd"):
        np.testing.assert_array_equal(a.requests[col], b.requests[col])
    assert a.metrics["ttft_s_p50"] != c.metrics["ttft_s_p50"]


def test_fleets_offered_the_same_rate_see_the_same_requests():
    """Common random numbers: the workload's streams do not depend on the fleet."""
    one = simulate(make_config(*SMALL, "workload.load_fraction=null", "workload.rate_rps=3", "fleet.racks=1"))
    two = simulate(make_config(*SMALL, "workload.load_fraction=null", "workload.rate_rps=3", "fleet.racks=2"))
    for col in ("arrival_s", "input_tokens", "output_tokens"):
        np.testing.assert_array_equal(one.requests[col], two.requests[col])
