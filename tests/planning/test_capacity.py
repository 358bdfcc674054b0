"""Sizing a fleet for a demand: the smallest fleet meeting the SLO, its inverse, and bad input."""

from __future__ import annotations

import pytest

from sim.base.config import ConfigError
from sim.planning.capacity import Candidate, Evaluation, Sizing, Slo, max_rate, open_loop, size_all
from sim.planning.layouts import Layout
from sim.planning.plan import main as plan_main
from sim.planning.runs import Runner, simulate_one
from tests.conftest import queue_config

#: One-second services, one request at a time per worker: c workers under Poisson arrivals are M/D/c.
QUEUE = Candidate("M/D/c", queue_config(), Layout(tp=8), batch_per_worker=1, rps_per_unit=1.0)
SLOW_SLO = Slo(ttft_s=10.0, tpot_s=1.0, attainment=0.99)  # generous: a stable fleet meets it
DURATION_S = 600.0


def sized(rate: float, slo: Slo = SLOW_SLO) -> Sizing:
    sizing = Sizing(QUEUE, rate, slo, seeds=2, duration_s=DURATION_S)
    size_all([sizing], Runner(1))
    return sizing


def met(units: int, rate: float, slo: Slo) -> bool:
    evaluation = Evaluation(units, [simulate_one(open_loop(QUEUE, units, rate, seed, DURATION_S, slo)) for seed in range(2)])
    return evaluation.met(slo)


def test_the_smallest_fleet_is_the_smallest_stable_one_when_waiting_is_cheap():
    """λ = 3.5 requests/s of 1-s services: 3 servers cannot keep up (ρ > 1), 4 can (ρ = 0.875), and the
    SLO tolerates the waits of any stable fleet."""
    sizing = sized(3.5)
    assert sizing.units == 4
    assert not met(3, 3.5, SLOW_SLO) and met(4, 3.5, SLOW_SLO)


def test_bisection_finds_the_first_fleet_an_exhaustive_scan_finds():
    slo = Slo(ttft_s=1.5, tpot_s=1.0, attainment=0.95)  # at most half a second of waiting for 95 % of requests
    sizing = sized(3.5, slo)
    first = next(n for n in range(1, 12) if met(n, 3.5, slo))
    assert sizing.units == first > 4
    assert not met(first - 1, 3.5, slo)


def test_an_slo_no_fleet_meets_is_out_of_reach_with_its_closest_fleet():
    slo = Slo(ttft_s=0.5, tpot_s=1.0)  # a service takes 1 s: no fleet serves a first token in 0.5 s
    sizing = sized(2.0, slo)
    assert sizing.units is None and sizing.error == "out of reach"
    closest = sizing.closest()
    assert closest is not None and closest.worst["slo_attainment"] == 0.0


def test_max_rate_is_the_inverse_of_sizing():
    """4 servers carry 3.5/s (sized above) but not more than their capacity of 4/s, to within what a finite
    run can see: an overload ε makes waits grow by about ε per second, so it shows within the run only
    once ε·duration exceeds the TTFT limit."""
    rate, evaluation = max_rate(QUEUE, 4, SLOW_SLO, Runner(1), seeds=2, duration_s=DURATION_S)
    assert 3.5 <= rate <= 4.0 * (1 + SLOW_SLO.ttft_s / DURATION_S) and evaluation.met(SLOW_SLO)


def test_bad_slo_and_demand_are_refused_with_a_clear_message(capsys):
    with pytest.raises(ConfigError, match="positive limits and an attainment in"):
        Slo(ttft_s=0.0)
    with pytest.raises(ConfigError, match="attainment"):
        Slo(attainment=1.5)
    for rate in ("0", "-5"):
        assert plan_main(["platform=h100", "--rate", rate]) == 2
        assert "--rate: the demand must be finite, non-negative request rates with a positive peak" in capsys.readouterr().err


def test_a_plan_whose_slo_nobody_meets_names_the_closest_candidate(tmp_path, capsys):
    code = plan_main(["platform=h100,b200", "precision=fp8", "model=llama3_70b", "workload.input_tokens=128", "workload.output_tokens=128",
                      "--rate", "5", "--tpot", "0.001", "--processes", "1", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "no candidate meets 99 % of requests within TTFT 2 s and TPOT 1 ms" in err
    assert "the closest is b200 FP8 tp8" in err and "p99 TPOT" in err
    assert (tmp_path / "plan.csv").exists()


def test_a_daily_profile_sizes_for_the_peak_and_prices_the_whole_day(tmp_path):
    import csv

    profile = tmp_path / "day.csv"
    profile.write_text("hour,rate_rps\n" + "".join(f"{h},{2.0 if 9 <= h < 17 else 0.5}\n" for h in range(24)))
    out = tmp_path / "out"
    code = plan_main(["platform=h100", "precision=fp8", "model=llama3_70b", "workload.input_tokens=128", "workload.output_tokens=128",
                      "--profile", str(profile), "--seeds", "1", "--layouts", "1", "--processes", "1", "--out", str(out)])
    assert code == 0
    best = next(csv.DictReader((out / "plan.csv").open()))
    assert best["rank"] == "1" and best["status"] == "met" and float(best["cost_usd_per_slo_mtok"]) > 0
    # the fleet is paid for all day, but delivers tokens at 2 req/s for 8 hours and 0.5 req/s for 16:
    # dearer per token than at a constant 2 req/s
    code = plan_main(["platform=h100", "precision=fp8", "model=llama3_70b", "workload.input_tokens=128", "workload.output_tokens=128",
                      "--rate", "2", "--seeds", "1", "--layouts", "1", "--processes", "1", "--out", str(tmp_path / "flat")])
    flat = next(csv.DictReader((tmp_path / "flat" / "plan.csv").open()))
    assert flat["gpus"] == best["gpus"]
    assert float(best["cost_usd_per_slo_mtok"]) == pytest.approx(float(flat["cost_usd_per_slo_mtok"]) * 24 / (8 + 16 * 0.25), rel=0.1)


def test_a_bad_profile_is_refused_in_one_line(tmp_path, capsys):
    bad = tmp_path / "day.csv"
    bad.write_text("hour,rps\n0,5\n")
    assert plan_main(["platform=h100", "--profile", str(bad), "--out", str(tmp_path)]) == 2
    assert "needs a rate_rps column" in capsys.readouterr().err
    bad.write_text("hour,rate_rps\n0,-5\n1,0\n")
    assert plan_main(["platform=h100", "--profile", str(bad), "--out", str(tmp_path)]) == 2
    assert "non-negative request rates with a positive peak" in capsys.readouterr().err
