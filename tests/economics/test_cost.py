"""Power and cost: the fleet figures follow their definitions and per-request costs add up."""

from __future__ import annotations

import pytest

from sim.economics.cost import capital_recovery_factor
from sim.run.simulation import Simulation, build, simulate
from tests.conftest import TOY, make_config

RUN = (*TOY, "workload.num_requests=300")


def test_preset_cost_per_mtok_is_the_public_formula():
    """$/Mtok = ($/GPU-hour) / (tokens per GPU-second x 3600 / 1e6)."""
    cfg = make_config(*RUN)
    m = simulate(cfg).metrics
    price = cfg.platform.price_usd_per_gpu_hour["hyperscaler_owning"]
    assert m["cost_usd_per_hour"] == pytest.approx(price * m["gpus"])
    assert m["cost_usd_per_mtok"] == pytest.approx(price / (m["tput_per_gpu_tok_s"] * 3600 / 1e6))
    assert m["tok_s_per_mw_drawn"] == pytest.approx(m["throughput_tok_s"] / (m["power_kw"] / 1000))
    # the public benchmark's: per GPU, tokens/s x 1000 / the platform's all-in provisioned kW per GPU
    assert m["tok_s_per_mw_provisioned"] == pytest.approx(m["tput_per_gpu_tok_s"] * 1000 / cfg.platform.allin_power_kw_per_gpu)


def test_power_lies_between_idle_and_full_load():
    cfg = make_config(*RUN)
    m = simulate(cfg).metrics
    p = cfg.platform
    per_gpu_w = m["power_kw"] * 1000 / m["gpus"] / cfg.cost.pue
    assert p.tdp_w * p.idle_power_fraction + p.host_power_w_per_gpu <= per_gpu_w <= p.tdp_w + p.host_power_w_per_gpu
    idle = p.tdp_w * p.idle_power_fraction
    assert per_gpu_w == pytest.approx(idle + (p.tdp_w - idle) * m["gpu_utilization"] + p.host_power_w_per_gpu)


def test_tco_is_capital_annuity_plus_opex_plus_energy():
    cfg = make_config(*RUN, "cost=tco", "cost.tco.capex_usd_per_gpu=40000", "cost.tco.usd_per_kwh=0.10")
    m = simulate(cfg).metrics
    crf = 0.08 * 1.08**4 / (1.08**4 - 1)
    capital_h = m["gpus"] * 40000 * (crf + 0.05) / 8760
    assert m["cost_usd_per_hour"] == pytest.approx(capital_h + m["power_kw"] * 0.10)
    assert capital_recovery_factor(0.0, 4) == 0.25


@pytest.mark.parametrize("cutoff", [None, 6.0])
def test_gpu_seconds_charged_to_requests_are_the_gpu_seconds_the_workers_were_busy(cutoff):
    """Conservation of GPU time: what requests are charged = tp x busy time of every worker."""
    overrides = (*RUN, "workload.load_fraction=1.5") + ((f"max_sim_time_s={cutoff}",) if cutoff else ())
    cfg = build(make_config(*overrides)).cfg  # the worker size the default rule chose
    result = Simulation(build(cfg)).run()  # a cutoff before any completion: simulate() would refuse the empty run
    assert result.requests["gpu_s"].sum() == pytest.approx(cfg.worker.tp * result.workers["busy_s"].sum(), rel=1e-9)
    if cutoff:
        assert result.metrics["requests_in_flight"] > 0  # the cutoff fell while work was in progress
        assert (result.workers["busy_s"] <= cutoff).all()


def test_per_request_costs_add_up_to_the_fleet_cost_of_the_run():
    result = simulate(make_config(*RUN))
    m, r = result.metrics, result.requests
    run_cost = m["cost_usd_per_hour"] * m["sim_time_s"] / 3600
    assert r["cost_usd"].sum() == pytest.approx(run_cost)
    assert m["cost_usd_per_mtok_p50"] <= m["cost_usd_per_mtok_p90"]


def test_idle_capacity_makes_tokens_dearer():
    """A quarter of the load, same fleet: each token carries the cost of the idle capacity."""
    long_run = (*TOY, "workload.num_requests=4000", "workload.output_tokens=256", "worker.tp=8")
    light = simulate(make_config(*long_run, "workload.load_fraction=0.2")).metrics
    heavy = simulate(make_config(*long_run, "workload.load_fraction=0.8")).metrics
    ratio = light["cost_usd_per_mtok"] / heavy["cost_usd_per_mtok"]
    assert ratio > 3  # 4 in steady state; ramp-up and drain of a finite run bring it down
