"""A worker's collectives timed from their bytes, the links' rates and the latencies."""

from __future__ import annotations

import pytest

from sim.spec.efficiency import calibrated
from sim.serving.perf import RooflinePerf
from sim.run.simulation import build
from sim.spec.model import ModelArch
from sim.spec.platform import Platform
from sim.spec.precision import Precision
from tests.conftest import make_config


def roofline(*overrides):
    cfg = calibrated(make_config(*overrides))
    platform = Platform.from_config(cfg.platform)
    return RooflinePerf(platform, ModelArch(cfg.model), Precision.from_config(cfg.precision), cfg.worker, cfg.perf), cfg, platform


@pytest.mark.parametrize("tokens", [8, 256, 4096])
def test_an_all_to_all_on_a_non_blocking_switch_is_its_bytes_over_the_port_plus_its_latencies(tokens):
    """DeepSeek-R1 on 8 B200 (ep = 8) inside one NVSwitch domain: the busiest GPU exchanges its share of
    the tokens' hidden states (FP4 out, BF16 back), one copy per top-8 expert on the 7 other ranks, times the imbalance;
    each of the 116 collectives costs the platform's measured fixed cost of a dispatch or combine, one hop and
    one message per peer."""
    perf, cfg, platform = roofline("platform=b200", "model=deepseek_r1", "precision=fp4", "worker.tp=8", "worker.dp_attn=true")
    topo = platform.topology
    per_token = 58 * 8 * 7168 * (0.5625 + 2.0) / 8 * 7 / 8
    seconds = tokens * per_token * perf.moe_imbalance(tokens) / (cfg.perf.alltoall_scaleup_efficiency * topo.scaleup_bytes_per_s)
    latency = 116 * (cfg.perf.collective_latency_s + topo.scaleup_alltoall_s + topo.scaleup_hop_s + 7 * topo.scaleup_peer_s)
    parts = perf.layer_parts(tokens)
    assert parts.alltoall_link_s == pytest.approx(seconds, rel=1e-12) and parts.alltoall_latency_s == pytest.approx(latency, rel=1e-12)


def test_the_same_expert_parallel_width_costs_more_over_the_scale_out_network_than_inside_nvl72():
    """32 GPUs: four HGX B200 nodes over 400G NICs against 32 GPUs of one GB200 NVL72 rack."""
    layout = ("model=deepseek_r1", "precision=fp4", "worker.tp=32", "worker.dp_attn=true", "fleet.workers=1")
    hgx = build(make_config("platform=b200", "fleet.racks=4", *layout)).perf
    nvl = build(make_config("platform=gb200_nvl72", *layout)).perf
    for tokens in (32, 1024, 8192):
        h, n = hgx.layer_parts(tokens), nvl.layer_parts(tokens)
        assert h.alltoall_link_s > 2 * n.alltoall_link_s
    # (the fixed costs are the measured kernels': DeepEP's low-latency dispatch across nodes has less than
    # TensorRT-LLM's one-sided NVLink kernel, collective_ops.csv C009-C012 and C027-C028)
    # where bandwidth dominates, the ratio approaches that of the links (NVLink 900 GB/s, NIC 50 GB/s),
    # less the 7/31 of the bytes that stay inside each HGX node
    big = hgx.layer_parts(65536).alltoall_link_s / nvl.layer_parts(65536).alltoall_link_s
    cfg = build(make_config("platform=b200", *layout)).cfg.perf
    links = (900 / 50) * cfg.alltoall_scaleup_efficiency / cfg.alltoall_scaleout_efficiency * 24 / 31
    assert big == pytest.approx(links, rel=1e-6)


def test_overlapping_two_micro_batches_hides_what_the_gemms_cover_and_pays_twice_the_latencies():
    base = ("platform=b200", "model=deepseek_r1", "precision=fp4", "worker.tp=32", "worker.dp_attn=true", "fleet.workers=1")
    plain = build(make_config(*base)).perf
    overlapped = build(make_config(*base, "worker.overlap_comm=true")).perf
    tokens = 16384  # compute-bound GEMMs, long all-to-alls over the NICs
    p, o = plain.layer_parts(tokens), overlapped.layer_parts(tokens)
    gemm = p.gemm_compute_s + p.gemm_memory_s
    comm = p.alltoall_link_s + 2 * p.alltoall_latency_s
    assert o.alltoall_link_s + o.alltoall_latency_s == pytest.approx(max(0.0, comm - (o.gemm_compute_s + o.gemm_memory_s)), rel=1e-9)
    assert o.seconds() < p.seconds() and o.gemm_compute_s + o.gemm_memory_s >= gemm
