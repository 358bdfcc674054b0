"""The roofline performance model against first-principles bounds."""

from __future__ import annotations

import numpy as np
import pytest

from sim.spec.efficiency import calibrated
from sim.serving.perf import RooflinePerf
from sim.spec.model import ModelArch
from sim.spec.platform import Platform
from sim.spec.precision import Precision
from tests.conftest import make_config


def roofline(*overrides):
    """The roofline at the physics defaults (these tests check its structure, not the fitted factors)."""
    pinned = () if any(o.startswith("worker.tp=") for o in overrides) else ("worker.tp=8",)
    cfg = calibrated(make_config("calibration=uncalibrated", *pinned, *overrides))
    platform = Platform.from_config(cfg.platform)
    model = ModelArch(cfg.model)
    precision = Precision.from_config(cfg.precision)
    return RooflinePerf(platform, model, precision, cfg.worker, cfg.perf), platform, model, precision


def test_batch1_decode_of_llama3_70b_on_h100_is_weight_bandwidth_bound():
    perf, platform, model, precision = roofline("platform=h100", "model=llama3_70b", "precision=bf16", "worker.tp=1")
    t = perf.iteration_time_s(0, 0.0, 0.0, 1, 1024)
    bound_s = model.weight_bytes("bf16") / perf.weight_bytes_per_s  # at what Hopper's small-batch GEMMs achieve of HBM
    assert bound_s < t < 1.1 * bound_s  # plus 80 layers of kernels at their floor, and the KV cache


def test_large_prefill_is_priced_on_its_compute_and_link_sides():
    perf, platform, model, precision = roofline("platform=h100", "model=llama3_70b", "precision=fp8", "worker.tp=8")
    tokens = 8192
    t = perf.iteration_time_s(tokens, tokens * tokens / 2, tokens, 0, 0.0)
    compute_s = tokens * model.gemm_flops_per_token / 8 / perf.gemm_flops_per_s
    memory_s = perf.weight_bytes_read(tokens) / perf.hbm_bytes_per_s
    assert compute_s > 20 * memory_s
    # every term is on its compute (or link) side: weight and KV reads never bind
    pairs = tokens * tokens / 2
    attention_s = pairs * model.attention_flops_per_pair(decode=False) / 8 / perf.attn_flops_per_s
    # inside one NVLink domain a ring all-reduce: its bytes over the port at the all-reduce's achieved fraction
    ring_bytes = 160 * 8192 * 2 * 2 * 7 / 8  # 80 attention + 80 MLP all-reduces of the BF16 hidden state
    assert perf.ar_up_per_token == pytest.approx(ring_bytes) and perf.ar_out_per_token == 0
    comm_s = perf.allreduce_latency_s + tokens * ring_bytes / (perf.ar_up_eff * platform.scaleup_bytes_per_s)
    activations_s = tokens * perf.activation_bytes_per_token / perf.hbm_bytes_per_s  # norms, residuals, MLP intermediates
    assert t == pytest.approx(compute_s + attention_s + activations_s + comm_s + perf.overhead_s, rel=1e-9)
    # FP8 GEMMs at what Hopper's kernels achieve, and tensor-parallel ring all-reduces of every token, are of one size
    assert compute_s > attention_s and 0.5 * compute_s < comm_s < 2 * compute_s


@pytest.mark.parametrize("model", ["deepseek_r1", "gpt_oss_120b", "llama3_70b"])
def test_a_decode_run_in_closed_form_equals_its_iterations_one_by_one(model):
    """What event skipping relies on: k decode iterations timed at once = timed one at a time."""
    perf, *_ = roofline(f"model={model}", "precision=fp8", "platform=b200", "worker.tp=8")
    for batch, context in ((1, 100), (64, 64 * 3000), (256, 256 * 20)):
        run = perf.decode_run(batch, context, batch)
        steps = np.cumsum([perf.iteration_time_s(0, 0.0, 0.0, batch, context + batch * i) for i in range(3000)])
        for k in (1, 2, 17, 1000, 3000):
            assert run.elapsed_s(k) == pytest.approx(steps[k - 1], rel=1e-9)
        for j in range(0, 2999, 37):  # a moment inside iteration j + 1 (0-based): it is the (j + 2)-th to end
            assert run.boundary((steps[j] + steps[j + 1]) / 2) == (j + 2, pytest.approx(steps[j + 1], rel=1e-9))
        assert run.boundary(steps[0] / 2)[0] == 1


def test_decode_runs_cross_from_memory_to_compute_bound_attention():
    """With a sliding window the attention lines cross: the run has two pieces, still exact."""
    from sim.serving.perf import DecodeRun

    run = DecodeRun(1.0, 5.0, 0.1, 0.0, 0.3)  # line 2 overtakes line 1 at i = 25
    steps = np.cumsum([1.0 + max(5.0 + 0.1 * i, 0.3 * i) for i in range(100)])
    assert run.cross in (25, 26)  # the lines meet at i = 25: either side is exact
    np.testing.assert_allclose([run.elapsed_s(k) for k in range(1, 101)], steps, rtol=1e-12)
    assert [run.boundary(x)[0] for x in (0.5, steps[24], steps[24] + 1e-9, steps[99])] == [1, 25, 26, 100]


def test_fp4_doubles_the_peak_of_moe_gemms_over_fp8_at_what_each_kernel_achieves():
    fp8, platform, *_ = roofline("platform=b200", "model=deepseek_r1", "precision=fp8")
    fp4, *_ = roofline("platform=b200", "model=deepseek_r1", "precision=fp4")
    achieved = make_config("platform=b200").platform.kernels.gemm_fraction  # FP4 0.63 of its peak, FP8 0.57 of its
    assert fp4.gemm_flops_per_s == pytest.approx(2 * fp8.gemm_flops_per_s * achieved["fp4"] / achieved["fp8"])
    assert fp4.dense_bytes < fp8.dense_bytes and fp4.expert_bytes < fp8.expert_bytes


def test_expected_distinct_experts_matches_monte_carlo():
    cfg = make_config("model=deepseek_r1")
    model = ModelArch(cfg.model)
    rng = np.random.default_rng(0)
    e, k = model.cfg.n_routed_experts, model.cfg.top_k
    for tokens in (1, 8, 64, 512):
        hits = [
            len(np.unique(np.argsort(rng.random((tokens, e)), axis=1)[:, :k])) for _ in range(300)
        ]
        assert model.expected_distinct_experts(tokens) == pytest.approx(np.mean(hits), rel=0.02)
    assert model.expected_distinct_experts(1) == k


def test_moe_dispatch_and_combine_bytes_follow_the_shapes():
    """DeepSeek-R1: 58 MoE layers x 7168-wide hidden state, FP8 out and BF16 back, one copy per routed expert
    held by another rank."""
    perf, _, model, _ = roofline("model=deepseek_r1", "precision=fp8", "platform=b200", "worker.tp=8")
    assert model.moe_dispatch_bytes_per_token("fp8") == 58 * 7168 * 1
    assert model.moe_combine_bytes_per_token() == 58 * 7168 * 2
    copies = 8 * 7 / 8  # of the top-8 experts, those on the 7 other ranks
    assert model.moe_copies_sent(8) == pytest.approx(copies) and model.moe_copies_sent(1) == 0
    rng = np.random.default_rng(0)  # the same by drawing routings: 256 experts over 8 ranks, rank 0 sending
    elsewhere = [np.sum(rng.choice(256, 8, replace=False) // 32 != 0) for _ in range(20000)]
    assert np.mean(elsewhere) == pytest.approx(copies, rel=0.01)
    # per GPU and token: 61 attention + 3 dense-MLP ring all-reduces, plus this rank's 1/8 share of the
    # tokens' expert traffic
    allreduce = 2 * 7 / 8 * 7168 * 2
    expected = 64 * allreduce + (58 * 7168 * 3) * copies / 8
    assert perf.a2a_up_per_token + perf.ar_up_per_token == pytest.approx(expected) and perf.a2a_out_per_token == 0
    # experts sharded by tensor parallelism instead (ep=1): every MoE layer all-reduces like a dense one
    tp_only, *_ = roofline("model=deepseek_r1", "precision=fp8", "platform=b200", "worker.tp=8", "worker.ep=1")
    assert tp_only.ar_up_per_token == pytest.approx(122 * allreduce) and tp_only.a2a_up_per_token == 0
    # a dense model on one GPU moves nothing
    alone, *_ = roofline("model=llama3_70b", "precision=fp8", "platform=b200", "worker.tp=1")
    assert alone.ar_up_per_token == alone.a2a_up_per_token == 0 and alone.allreduce_latency_s == alone.alltoall_latency_s == 0


def test_activation_traffic_is_per_token_at_hbm_bandwidth_and_split_by_the_layout():
    """The activations' HBM passes cost bytes over HBM bandwidth, linear in the tokens; tensor parallelism
    runs the hidden state's passes on every GPU, dp_attn on the token's own; routed copies go to the experts'
    ep groups, their intermediate width split over each group's GPUs."""
    tp, _, model, _ = roofline("model=deepseek_r1", "precision=fp8", "platform=b200", "worker.tp=8")
    dp, *_ = roofline("model=deepseek_r1", "precision=fp8", "platform=b200", "worker.tp=8", "worker.dp_attn=true")
    mlp = model.mlp_intermediate_bytes_per_token("fp8") / 8
    assert tp.activation_bytes_per_token == pytest.approx(model.hidden_state_bytes_per_token() + mlp)
    assert dp.activation_bytes_per_token == pytest.approx(model.hidden_state_bytes_per_token() / 8 + mlp)
    hidden, intermediate = model.routed_copy_bytes("fp8", dispatched=True)
    assert tp.activation_bytes_per_routing == pytest.approx(hidden / 8 + intermediate / 8)
    for tokens in (64, 4096):
        routings = tokens * 8 * tp.moe_imbalance(tokens)
        expected = (tokens * tp.activation_bytes_per_token + routings * tp.activation_bytes_per_routing) / tp.hbm_bytes_per_s
        assert tp.layer_parts(tokens).activation_memory_s == pytest.approx(expected, rel=1e-12)
    # at a large batch they are a visible part of the iteration, at one token a negligible one
    big, one = tp.iteration_parts(0, 0.0, 0.0, 4096, 0.0), tp.iteration_parts(0, 0.0, 0.0, 1, 0.0)
    assert big.activation_memory_s > 0.1 * big.seconds() and one.activation_memory_s < 0.01 * one.seconds()


def test_moe_experts_run_at_their_grouped_kernels_fractions():
    """Experts' grouped GEMMs take the platform's grouped/dense ratio of the dense GEMM efficiencies: MI355X's
    fused FP4 MoE computes at 0.28 / 0.57 of the dense rate and reads weights at 0.58 / 0.38 of it (capped at the
    HBM peak); a platform that lists no grouped figures (B200) runs them as dense; a GEMM efficiency a run sets
    moves the experts with it."""
    amd, platform, _, _ = roofline("platform=mi355x", "precision=fp4")
    assert amd.expert_flops_per_s == pytest.approx(amd.gemm_flops_per_s * 0.28 / 0.57)
    assert amd.expert_weight_bytes_per_s == pytest.approx(min(platform.hbm_bytes_per_s, amd.weight_bytes_per_s * 0.58 / 0.38))
    compute_s, weights_s, _ = amd._experts(4096)
    assert compute_s == pytest.approx(4096 * 8 * amd.moe_imbalance(4096) * amd.expert_flops_per_routing / amd.expert_flops_per_s)
    b200, _, _, _ = roofline("platform=b200", "precision=fp4")
    assert (b200.expert_flops_per_s, b200.expert_weight_bytes_per_s) == (b200.gemm_flops_per_s, b200.weight_bytes_per_s)
    halved, _, _, _ = roofline("platform=mi355x", "precision=fp4", f"perf.compute_efficiency={amd.gemm_flops_per_s / platform.peak_flops('fp4') / 2}")
    assert halved.expert_flops_per_s == pytest.approx(amd.expert_flops_per_s / 2)
