"""Defaults that do not quietly cost money: the default worker size and the unused-capacity warning."""

from __future__ import annotations

import pytest

from sim.run.simulation import build, simulate
from tests.conftest import TOY, make_config

LLAMA_H100 = ("platform=h100", "model=llama3_70b", "precision=fp8", "workload.num_requests=3000")


def test_the_default_worker_is_the_cheapest_that_meets_the_slo():
    """Llama-3-70B at FP8 on H100: two GPUs per replica, not eight, and a token at under two thirds of the price
    (eight GPUs spend a third of their busy time in all-reduces)."""
    default = build(make_config(*LLAMA_H100))
    assert default.cfg.worker.tp == 2
    cost = {tp: simulate(make_config(*LLAMA_H100, *TOY[1:], f"worker.tp={tp}")).metrics["cost_usd_per_mtok"] for tp in (2, 4, 8)}
    assert cost[2] < cost[4] < cost[8] and cost[8] > 1.4 * cost[2]


def test_a_tighter_tpot_limit_buys_a_larger_worker_and_an_explicit_size_is_kept():
    tight = build(make_config(*LLAMA_H100, "workload.slo.tpot_s=0.025")).cfg.worker.tp
    assert tight > 2
    assert build(make_config(*LLAMA_H100, "worker.tp=4")).cfg.worker.tp == 4


def test_a_batch_limit_far_below_what_the_kv_cache_holds_is_warned_about(caplog):
    wide = ("platform=gb200_nvl72", "model=deepseek_r1", "precision=fp4", "worker.tp=72", "worker.dp_attn=true")
    assert not build(make_config(*wide)).warnings  # the limits are per attention rank: 256 on each of 72 ranks
    capped = build(make_config(*wide, "engine.max_batch_size=2"))
    (warning,) = capped.warnings
    assert "engine.max_batch_size=2 per attention rank (72 ranks)" in warning and "72 x gb200_nvl72 at 144 requests" in warning
    assert "unused" in warning
    with caplog.at_level("WARNING", logger="sim"):
        simulate(make_config(*wide, "engine.max_batch_size=2", *TOY))
    assert "engine.max_batch_size=2" in caplog.text
    assert not build(make_config()).warnings  # the default run is not wasteful
    clients = ("workload=benchmark", "workload.concurrency=64", "workload.num_requests=384", "workload.warmup_requests=64")
    assert not build(make_config(*wide, "engine.max_batch_size=2", *clients)).warnings  # 64 clients never fill the limit


@pytest.mark.parametrize("platform", ["h100", "gb200_nvl72", "mi355x"])
def test_the_default_disaggregated_prefill_worker_is_the_smallest_that_holds_the_model(platform):
    cfg = build(make_config(f"platform={platform}", "model=llama3_70b", "precision=fp8", "fleet.prefill_workers=1",
                            "fleet.workers=1")).cfg
    smaller = cfg.prefill_worker.tp // 2
    assert cfg.prefill_worker.tp >= 1
    if smaller:
        with pytest.raises(Exception, match="does not fit|holds"):
            build(make_config(f"platform={platform}", "model=llama3_70b", "precision=fp8", "fleet.prefill_workers=1",
                              "fleet.workers=1", f"prefill_worker.tp={smaller}"))
