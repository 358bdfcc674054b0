"""Defaults that do not quietly cost money: the default worker size and the unused-capacity warning."""

from __future__ import annotations

import pytest

from sim.run.simulation import build, simulate
from tests.conftest import TOY, make_config

LLAMA_H100 = ("platform=h100", "model=llama3_70b", "precision=fp8", "workload.num_requests=3000")


def test_the_default_worker_is_the_cheapest_that_meets_the_slo():
    """Llama-3-70B at FP8 on H100: the default size is the cheapest per token of the sizes whose simulated time per
    output token meets the chat SLO (within 10 %: the rule estimates, the run simulates), and eight GPUs per replica
    cost more (they spend much of their busy time in all-reduces)."""
    default = build(make_config(*LLAMA_H100))
    tp = default.cfg.worker.tp
    runs = {size: simulate(make_config(*LLAMA_H100, *TOY[1:], f"worker.tp={size}")).metrics for size in (2, 4, 8)}
    meets = [size for size, m in runs.items() if m["tpot_s_p50"] <= default.cfg.workload.slo.tpot_s]
    assert tp in runs and tp in meets
    assert runs[tp]["cost_usd_per_mtok"] <= 1.1 * min(runs[size]["cost_usd_per_mtok"] for size in meets)
    assert runs[8]["cost_usd_per_mtok"] > 1.2 * runs[tp]["cost_usd_per_mtok"]


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
