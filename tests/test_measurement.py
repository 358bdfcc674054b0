"""Measurement: the steady-state window by default, its confidence interval, and a warning when a run is
too short (sim/run/measurement.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.run.measurement import mser5_warmup_s
from sim.run.simulation import simulate
from tests.conftest import make_config

pytestmark = pytest.mark.theory
CHAT = ("workload.length_dist=uniform", "output.figure=false", "output.requests_csv=false", "output.print_summary=false")
#: Tokens per chat request: input and output uniform in [0.8 L, L] with L = 1024, so 0.9 L each on average.
MEAN_TOKENS = 2 * 0.9 * 1024


def test_the_batch_means_interval_uses_students_t():
    from scipy.stats import t

    from sim.run.measurement import BATCHES, T_975_BATCHES

    assert T_975_BATCHES == pytest.approx(t.ppf(0.975, BATCHES - 1), rel=1e-12)


def test_mser5_puts_the_warm_up_at_the_end_of_a_transient():
    """Requests arrive at 100/s and each stays 20 s: the fleet fills for 20 s, then holds about 2,000."""
    rng = np.random.default_rng(0)
    arrival = np.sort(rng.uniform(0, 100, 10000))
    finish = arrival + 20 + rng.normal(0, 1, arrival.size)
    warmup_s, capped = mser5_warmup_s(arrival, finish, np.full(arrival.size, 100.0), 100.0)
    assert 18 <= warmup_s <= 30 and not capped
    steady = rng.uniform(-30, 0, 3000)  # already full at t = 0: nothing to drop
    arrival2 = np.concatenate([steady, arrival])
    assert mser5_warmup_s(arrival2, arrival2 + 30 * rng.uniform(size=arrival2.size), np.full(arrival2.size, 100.0), 100.0)[0] < 15


def test_mser5_leaves_dropped_requests_out_and_says_when_it_finds_no_steady_state():
    """A full fleet turning half the arrivals away: the ones dropped never enter it, so the requests in the fleet
    are steady and nothing is cut; counted as in the fleet they would climb and hit the half-run cap. A fleet whose
    queue grows all run long has no steady state: the cap, and the run says so."""
    rng = np.random.default_rng(1)
    arrival = np.sort(rng.uniform(-20, 100, 24000))
    dropped = rng.uniform(size=arrival.size) < 0.5
    finish = np.where(dropped, np.nan, arrival + 10 + rng.normal(0, 1, arrival.size))
    tokens = np.full(arrival.size, 100.0)
    warmup_s, capped = mser5_warmup_s(arrival, finish, tokens, 100.0, dropped)
    assert warmup_s < 50 and not capped
    assert mser5_warmup_s(arrival, finish, tokens, 100.0) == (50.0, True)  # the dropped ones counted in the fleet
    growing = np.sort(rng.uniform(0, 100, 20000))
    assert mser5_warmup_s(growing, growing + growing, tokens[:20000], 100.0)[1]  # each waits as long as the run so far


def test_a_stable_open_loop_delivers_what_arrives_within_its_interval():
    """Throughput in steady state = arrival rate x mean tokens per request; the 95 % intervals of ten
    seeds cover it (at least 8 of 10), where the whole run's fill and drain bias the figure low."""
    covered, whole = 0, []
    for seed in range(10):
        m = simulate(make_config(*CHAT, "workload.num_requests=12000", f"seed={seed}")).metrics
        truth = m["arrival_rate_rps"] * MEAN_TOKENS
        assert m["steady_state"] and m["warmup_s"] > 0 and m["measured_s"] < m["sim_time_s"]
        covered += m["throughput_tok_s_ci_low"] <= truth <= m["throughput_tok_s_ci_high"]
        if seed < 2:
            w = simulate(make_config(*CHAT, "workload.num_requests=12000", f"seed={seed}", "workload.steady_state=false")).metrics
            whole.append(w["throughput_tok_s"] / truth)
    assert covered >= 8
    assert max(whole) < 0.95  # the fill and the drain, measured, cost more than 5 % of the throughput


def test_the_default_cost_no_longer_depends_on_the_run_length():
    """The issue's example: the default chat run's cost per Mtok at 10,000 and 30,000 requests (the default
    worker's requests live about 30 s: a shorter run holds no steady state, and says so)."""
    short = simulate(make_config(*CHAT, "workload.num_requests=10000")).metrics
    long = simulate(make_config(*CHAT, "workload.num_requests=30000")).metrics
    assert short["cost_usd_per_mtok"] == pytest.approx(long["cost_usd_per_mtok"], rel=0.05)
    assert long["cost_usd_per_mtok_ci_low"] <= long["cost_usd_per_mtok"] <= long["cost_usd_per_mtok_ci_high"]
    assert long["measurement_warning"] == ""


def test_a_run_too_short_for_a_steady_state_is_measured_whole_and_says_so():
    m = simulate(make_config(*CHAT, "workload.num_requests=800")).metrics
    assert not m["steady_state"] and m["measured_s"] == m["sim_time_s"] and m["requests_completed"] == 800
    assert "too short for a steady state" in m["measurement_warning"]
    assert "too short for the precision asked" in m["measurement_warning"]


def test_an_overloaded_fleet_dropping_requests_says_it_found_no_steady_state_or_finds_one():
    """The review's case: twice the capacity offered, queues of two per worker. Before, the requests turned away
    counted as in the fleet and the warm-up hit the half-run cap silently. (12,000 requests: on the default
    72-GPU worker a chat request lives about 30 s, so 6,000 arrive before the first completes.)"""
    m = simulate(make_config(*CHAT, "workload.num_requests=12000", "workload.load_fraction=2.0", "fleet.max_queue_per_worker=2")).metrics
    assert m["requests_dropped"] > 1000 and m["steady_state"]
    last_arrival_s = m["warmup_s"] + m["measured_s"]
    assert m["warmup_s"] < 0.4 * last_arrival_s or "no steady state found in the first half" in m["measurement_warning"]


def test_an_explicit_warm_up_whose_window_holds_no_completion_measures_the_whole_run():
    """No warm-up and 200 requests that all finish after the last arrival: measured whole and said so (it was
    refused as a run that completed nothing, though all 200 completed)."""
    m = simulate(make_config(*CHAT, "workload.num_requests=200", "workload.warmup_requests=0")).metrics
    assert m["requests_completed"] == 200 and not m["steady_state"] and m["measured_s"] == m["sim_time_s"]
    assert "no request completed in the steady-state window" in m["measurement_warning"]


def test_a_window_of_few_request_lifetimes_is_reported():
    m = simulate(make_config(*CHAT, "workload.num_requests=6000")).metrics
    assert m["steady_state"] and "spans fewer than 5 request lifetimes" in m["measurement_warning"]


def test_a_looser_precision_asked_silences_the_warning():
    tight = simulate(make_config(*CHAT, "workload.num_requests=5000", "workload.target_ci_half_width=0.001")).metrics
    loose = simulate(make_config(*CHAT, "workload.num_requests=5000", "workload.target_ci_half_width=0.5")).metrics
    assert "workload.target_ci_half_width asks +-0.1%" in tight["measurement_warning"]
    assert "precision" not in loose["measurement_warning"]


def test_slo_met_and_the_cost_of_slo_met_tokens():
    """An overloaded fleet: cheap per token delivered, but it misses its SLO, and the cost per SLO-met
    million tokens says so."""
    # 8-GPU workers: their batch limits (256 each) hold fewer requests than this short run sends, so the
    # overload queues (the default 4-GPU workers would take the whole burst into their batches)
    ok = simulate(make_config(*CHAT, "workload.num_requests=4000", "worker.tp=8")).metrics
    over = simulate(make_config(*CHAT, "workload.num_requests=4000", "workload.load_fraction=2.5", "worker.tp=8")).metrics
    assert ok["slo_met"] and ok["cost_usd_per_slo_met_mtok"] == pytest.approx(ok["cost_usd_per_mtok"], rel=0.01)
    assert not over["slo_met"] and over["slo_attainment"] < 0.9
    assert over["cost_usd_per_slo_met_mtok"] > 1.2 * over["cost_usd_per_mtok"]
