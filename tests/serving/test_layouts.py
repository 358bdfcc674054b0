"""Serving layouts: attention data parallelism, expert-load imbalance, speculative decoding, disaggregation."""

from __future__ import annotations

import numpy as np
import pytest

from sim.base.config import ConfigError, EfficiencyConfig, SpeculativeConfig
from sim.spec.efficiency import calibrated
from sim.serving.fleet import worker_memory
from sim.serving.perf import RooflinePerf
from sim.serving.speculative import Speculation
from sim.run.simulation import Simulation, build, simulate
from sim.spec.model import ModelArch
from sim.spec.platform import Platform
from sim.spec.precision import Precision
from tests.conftest import TOY, make_config

DSR1_B200 = ("platform=b200", "model=deepseek_r1", "precision=fp4", "worker.tp=8")


def parts(*overrides):
    cfg = calibrated(make_config(*overrides))
    platform, model, precision = Platform.from_config(cfg.platform), ModelArch(cfg.model), Precision.from_config(cfg.precision)
    return cfg, platform, model, precision


def test_dp_attn_holds_a_request_on_one_gpu_and_replicates_the_non_expert_weights():
    cfg, platform, model, precision = parts(*DSR1_B200)
    tp_mem = worker_memory(platform, model, precision, cfg.worker, cfg.engine)
    cfg_dp, *_ = parts(*DSR1_B200, "worker.dp_attn=true")
    dp_mem = worker_memory(platform, model, precision, cfg_dp.worker, cfg.engine)
    # every GPU holds the non-expert weights and embeddings whole instead of 1/8 of them
    extra = (model.non_expert_params * precision.weight_bytes + model.embedding_params * 2.0) * 7 / 8
    assert dp_mem.weight_bytes_per_gpu == pytest.approx(tp_mem.weight_bytes_per_gpu + extra)
    # MLA's latent is no longer replicated on the 8 ranks: a token costs 1/8 of the worker's bytes
    assert dp_mem.kv_bytes_per_token_per_gpu == pytest.approx(tp_mem.kv_bytes_per_token_per_gpu / 8)
    assert dp_mem.kv_capacity_tokens == pytest.approx(8 * dp_mem.kv_bytes_per_gpu / tp_mem.kv_bytes_per_token_per_gpu)
    assert dp_mem.kv_capacity_tokens > 4 * tp_mem.kv_capacity_tokens


def test_dp_attn_reads_only_its_requests_cache_and_drops_the_attention_all_reduce():
    cfg, platform, model, precision = parts(*DSR1_B200)
    tp = RooflinePerf(platform, model, precision, cfg.worker, cfg.perf)
    cfg_dp, *_ = parts(*DSR1_B200, "worker.dp_attn=true")
    dp = RooflinePerf(platform, model, precision, cfg_dp.worker, cfg_dp.perf)
    assert dp.kv_bytes_per_token == pytest.approx(tp.kv_bytes_per_token / 8)
    assert dp.ar_up_per_token == 0 and tp.ar_up_per_token > 0
    assert dp.a2a_up_per_token == pytest.approx(tp.a2a_up_per_token)
    # a long-context decode batch is cheaper with dp_attn (1/8 of the KV read, though all non-expert weights are read)
    assert dp.iteration_time_s(0, 0, 0, 64, 64 * 30000) < 0.9 * tp.iteration_time_s(0, 0, 0, 64, 64 * 30000)
    # the busiest GPU holds ceil(B/tp) requests
    assert dp.busiest_share(9) == pytest.approx(2 * 8 / 9) and dp.busiest_share(64) == 1.0 and tp.busiest_share(9) == 1.0


@pytest.mark.parametrize("tokens", [1, 4, 32, 256])
def test_expert_imbalance_matches_the_busiest_group_of_random_routing(tokens):
    """The expected load of the busiest of 8 expert-parallel groups, over the mean, against Monte Carlo."""
    cfg, platform, model, precision = parts(*DSR1_B200)
    perf = RooflinePerf(platform, model, precision, cfg.worker, cfg.perf)
    e, k, ep = model.cfg.n_routed_experts, model.cfg.top_k, 8
    rng = np.random.default_rng(1)
    ratios = []
    for _ in range(400):
        experts = np.argsort(rng.random((tokens, e)), axis=1)[:, :k]  # top-k distinct experts per token
        loads = np.bincount((experts // (e // ep)).ravel(), minlength=ep)
        ratios.append(loads.max() / (tokens * k / ep))
    assert perf.moe_imbalance(tokens) == pytest.approx(np.mean(ratios), rel=0.15)
    assert 1.0 <= perf.moe_imbalance(tokens) <= ep


def test_imbalance_falls_with_tokens_and_vanishes_without_expert_parallelism():
    cfg, platform, model, precision = parts(*DSR1_B200)
    perf = RooflinePerf(platform, model, precision, cfg.worker, cfg.perf)
    values = [perf.moe_imbalance(t) for t in (1, 8, 64, 512, 4096)]
    assert values == sorted(values, reverse=True) and values[-1] < 1.1
    cfg1, *_ = parts(*DSR1_B200, "worker.ep=1")
    assert RooflinePerf(platform, model, precision, cfg1.worker, cfg1.perf).moe_imbalance(8) == 1.0


def test_mtp_mean_yield_and_iteration_counts_match_sampling():
    spec = Speculation(SpeculativeConfig(method="mtp", draft_tokens=3, acceptance_rate=0.7))
    assert spec.mean_tokens == pytest.approx(1 + 0.7 + 0.49 + 0.343)
    rng = np.random.default_rng(0)
    # yields of one iteration: 1 + accepted drafts, accepted in sequence
    accepted = np.minimum(rng.geometric(1 - 0.7, size=200_000) - 1, 3)
    assert (1 + accepted).mean() == pytest.approx(spec.mean_tokens, rel=0.01)
    assert (1 + accepted).var() == pytest.approx(spec.var_tokens, rel=0.02)
    # iterations to produce 1000 tokens: renewal count, vs. the drawn counts
    counts = np.array([spec.iterations(1000, z) for z in rng.standard_normal(4000)])
    sampled = [np.searchsorted(np.cumsum(1 + np.minimum(rng.geometric(0.3, 1000) - 1, 3)), 1000) + 1 for _ in range(2000)]
    assert counts.mean() == pytest.approx(np.mean(sampled), rel=0.01)
    assert counts.std() == pytest.approx(np.std(sampled), rel=0.1)
    assert counts.min() >= 250 and counts.max() <= 1000
    assert Speculation(SpeculativeConfig()).iterations(1000, 2.0) == 1000  # no speculation: one token each


def test_mtp_raises_interactivity_and_costs_verification_compute():
    base = (*DSR1_B200, *TOY, "workload=closed_loop", "workload.concurrency=16", "workload.num_requests=64")
    plain = Simulation(build(make_config(*base))).run().metrics
    mtp = Simulation(build(make_config(*base, "engine.speculative.method=mtp", "engine.speculative.acceptance_rate=0.8"))).run().metrics
    assert mtp["interactivity_tok_s_user"] > 1.5 * plain["interactivity_tok_s_user"]
    assert mtp["interactivity_p50_tok_s_user"] > 1.5 * plain["interactivity_p50_tok_s_user"]
    assert mtp["output_tokens"] == plain["output_tokens"]  # the same requests, all delivered
    cfg, platform, model, precision = parts(*DSR1_B200)
    spec = Speculation(SpeculativeConfig(method="mtp", draft_tokens=3, acceptance_rate=0.8))
    with_mtp = RooflinePerf(platform, model, precision, cfg.worker, cfg.perf, spec)
    without = RooflinePerf(platform, model, precision, cfg.worker, cfg.perf)
    # an iteration verifying 4 tokens per request costs more than one of 1 token (and less than 4 of them)
    t1, t4 = without.iteration_time_s(0, 0, 0, 128, 128 * 2000), with_mtp.iteration_time_s(0, 0, 0, 128, 128 * 2000)
    assert t1 < t4 < 4 * t1


def test_disaggregated_serving_conserves_tokens_and_counts_every_gpu():
    cfg = make_config(
        "platform=b200", "model=deepseek_r1", "precision=fp4", "fleet.workers=2", "worker.tp=8",
        "fleet.prefill_workers=3", "prefill_worker.tp=4", "prefill_worker.dp_attn=true",
        "workload.load_fraction=0.6", "workload.num_requests=600", "workload.steady_state=false", *TOY[1:],
    )
    sim = Simulation(build(cfg))
    result = sim.run()
    m, w, r = result.metrics, result.workers, result.requests
    assert m["gpus"] == 3 * 4 + 2 * 8 and m["requests_completed"] == 600
    prefill, decode = w["role"] == "prefill", w["role"] == "decode"
    assert prefill.sum() == 3 and decode.sum() == 2
    # every prompt is prefilled once on a prefill worker, every other token decoded on a decode worker
    assert w["prefill_tokens"][prefill].sum() == r["input_tokens"].sum() and w["prefill_tokens"][decode].sum() == 0
    assert w["decode_steps"][prefill].sum() == 0
    assert w["decode_steps"][decode].sum() == (r["output_tokens"] - 1).sum()  # no speculation: a step is a token
    assert set(r["worker"]) <= set(range(3, 5))  # requests end on decode workers
    # the KV transfer sits between the first token and the second, and takes at least its bytes over one NIC
    nic = sim.deployment.platform.scaleout_bytes_per_s
    assert np.all(r["kv_transfer_s"] >= (r["input_tokens"] + 1) * sim.deployment.kv_bytes_per_token / nic)
    assert np.all(r["finish_s"] - r["first_token_s"] >= r["kv_transfer_s"])
    assert m["kv_transfer_s_p50"] == pytest.approx(np.median(r["kv_transfer_s"]))


def test_kv_moves_over_nvlink_inside_one_scale_up_domain_and_over_the_nic_across_domains():
    """One request at a time, so its transfer has the links to itself: bytes over the link at the
    all-to-all's achieved fraction for that kind of link, plus the path's latency."""
    base = ("fleet.workers=4", "fleet.prefill_workers=2", "prefill_worker.tp=4", "workload=closed_loop",
            "workload.concurrency=1", "workload.num_requests=4", *TOY[1:])
    seconds = {}
    for platform in ("gb200_nvl72", "b200"):
        sim = Simulation(build(make_config(f"platform={platform}", *base)))
        r = sim.run().requests
        dep = sim.deployment
        cfg, topology = dep.cfg.perf, dep.platform.topology
        inside = platform == "gb200_nvl72"
        rate = topology.scaleup_bytes_per_s * cfg.alltoall_scaleup_efficiency if inside else topology.nic_bytes_per_s * cfg.alltoall_scaleout_efficiency
        latency = cfg.collective_latency_s + (topology.scaleup_hop_s if inside else topology.scaleout_latency_s(False))
        expected = latency + (r["input_tokens"] + 1) * dep.kv_bytes_per_token / rate
        np.testing.assert_allclose(r["kv_transfer_s"], expected, rtol=1e-9)
        seconds[platform] = r["kv_transfer_s"].mean()
    assert seconds["b200"] > 2 * seconds["gb200_nvl72"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (("model=llama3_70b", "worker.dp_attn=true"), "dp_attn=true needs a mixture-of-experts model"),
        (("worker.dp_attn=true", "worker.ep=2"), "dp_attn=true needs"),
        (("fleet.prefill_workers=1", "prefill_worker.tp=3"), "prefill_worker.tp=3 must divide the 128 attention heads"),
        (("fleet.prefill_workers=-1",), "fleet.prefill_workers=-1 is not allowed: it must be in [0, "),
        (("fleet.prefill_workers=20", "prefill_worker.tp=4"), "fewer than 20 prefill worker(s)"),
        (("engine.speculative.method=medusa",), "engine.speculative.method='medusa' is unknown"),
        (("engine.speculative.method=mtp", "engine.speculative.acceptance_rate=1.5"), "acceptance_rate=1.5 is not allowed: it must be in [0, 1)"),
        (("platform=h200", "precision=fp8", "worker.tp=2", "fleet.workers=1"), "does not fit on a worker of 2 x h200"),
    ],
)
def test_bad_layouts_are_refused_before_simulating(overrides, message):
    with pytest.raises(ConfigError) as err:
        build(make_config(*overrides))
    assert message in str(err.value)


def test_calibration_scales_the_platforms_kernels_by_generation_and_explicit_values_win():
    cfg = make_config("platform=h200", "precision=fp8", "calibration=uncalibrated")
    kernels = cfg.platform.kernels
    cfg.calibration.generations["hopper"] = EfficiencyConfig(compute_scale=0.5, memory_scale=0.8, launch_scale=0.25)
    perf = calibrated(cfg).perf
    assert perf.compute_efficiency == pytest.approx(0.5 * kernels.gemm_fraction["fp8"])
    assert perf.weight_read_efficiency == pytest.approx(0.8 * kernels.weight_read_fraction["fp8"])
    assert perf.memory_efficiency == pytest.approx(0.8 * kernels.stream_fraction)
    assert perf.kernel_floor_s == pytest.approx(0.25 * kernels.kernel_floor_s)
    assert perf.alltoall_scaleup_efficiency == cfg.platform.topology.scaleup.alltoall_efficiency
    cfg.perf.compute_efficiency = 0.2  # set explicitly: wins over the calibration
    assert calibrated(cfg).perf.compute_efficiency == 0.2
    blackwell = make_config("calibration=uncalibrated", "precision=fp4")
    blackwell.calibration.generations["hopper"] = EfficiencyConfig(compute_scale=0.5)
    assert calibrated(blackwell).perf.compute_efficiency == blackwell.platform.kernels.gemm_fraction["fp4"]
    gpt_oss_on_hopper = make_config("platform=h100", "precision=mxfp4", "calibration=uncalibrated")  # FP4 weights: the nearest wider type's
    assert calibrated(gpt_oss_on_hopper).perf.weight_read_efficiency == gpt_oss_on_hopper.platform.kernels.weight_read_fraction["fp8"]
    assert calibrated(make_config("engine.speculative.method=mtp")).engine.speculative.acceptance_rate == (
        make_config().calibration.mtp_acceptance_rate
    )


def test_disaggregated_one_token_requests_complete_on_the_prefill_worker():
    cfg = make_config(
        "platform=b200", "model=deepseek_r1", "precision=fp4", "fleet.workers=1", "fleet.prefill_workers=1",
        "prefill_worker.tp=4", "workload.length_dist=fixed", "workload.output_tokens=1", "workload.load_fraction=null",
        "workload.rate_rps=20", *TOY,
    )
    m = Simulation(build(cfg)).run().metrics
    assert m["requests_completed"] == 60 and m["output_tokens"] == 60


@pytest.mark.parametrize("acceptance", [0.3, 0.9])
def test_mtp_requests_end_holding_exactly_their_context_so_a_request_that_fits_completes(acceptance):
    """Each request's context grows at its own rate (tokens left / its drawn iterations): at its end it
    holds input + output, so one that fits the cache by a few tokens never outgrows it."""
    cfg = make_config(
        "platform=b200", "model=deepseek_r1", "precision=fp4", "worker.tp=8", "workload=closed_loop",
        "workload.concurrency=1", "workload.num_requests=6", "workload.length_dist=fixed",
        "workload.output_tokens=8000", "engine.speculative.method=mtp", f"engine.speculative.acceptance_rate={acceptance}",
        *TOY[1:],
    )
    dep = build(cfg)
    mem = dep.memory  # shrink the cache to about 70k tokens
    util = (mem.weight_bytes_per_gpu + mem.activation_bytes_per_gpu + 70_000 * mem.kv_bytes_per_token_per_gpu) / dep.platform.memory_bytes
    small = ("platform=b200", "model=deepseek_r1", "precision=fp4", "worker.tp=8", f"engine.gpu_memory_utilization={util}")
    capacity = build(make_config(*small)).memory.kv_capacity_tokens
    cfg = make_config(
        *small, "workload=closed_loop", "workload.concurrency=1", "workload.num_requests=6", "workload.length_dist=fixed",
        f"workload.input_tokens={int(capacity) - 8000 - 50}", "workload.output_tokens=8000",
        "engine.speculative.method=mtp", f"engine.speculative.acceptance_rate={acceptance}", *TOY[1:],
    )
    sim = Simulation(build(cfg))
    m = sim.run().metrics
    assert m["requests_completed"] == 6 and m["preemptions"] == 0
    assert all(abs(e.kv_used) < 1e-6 and abs(e.decode_context) < 1e-6 for e in sim.engines)


def test_an_expert_parallel_width_that_does_not_divide_the_experts_holds_redundant_copies():
    """DeepSeek-R1's 256 experts over 48 GPUs (wide expert parallelism with dp_attn, as rack-scale
    deployments run it): 6 slots per GPU, 288 in all; 48 does not divide the 128 heads either, which
    dp_attn does not need."""
    wide = ("platform=gb200_nvl72", "precision=fp4", "worker.tp=48", "worker.dp_attn=true", "fleet.workers=1")
    deployment = build(make_config(*wide))
    model, precision = deployment.model, deployment.precision
    assert model.expert_slots(48) == 288 and model.expert_slots(32) == 256
    routed_per_gpu = model.moe_layers * 6 * model.expert_params * precision.weight_bytes
    replicated = model.non_expert_params * precision.weight_bytes + model.embedding_params * 2.0
    assert deployment.memory.weight_bytes_per_gpu == pytest.approx(routed_per_gpu + replicated, rel=1e-12)
    perf = deployment.perf
    assert perf.experts_hit(10_000) == pytest.approx(288)  # every slot read once the batch hits every expert
    result = simulate(make_config(*wide, *TOY))
    assert result.metrics["requests_completed"] == 60
    with pytest.raises(ConfigError, match="worker.tp=48 must divide the 128 attention heads"):
        build(make_config("platform=gb200_nvl72", "precision=fp4", "worker.tp=48", "fleet.workers=1"))
