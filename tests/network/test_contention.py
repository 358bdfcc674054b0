"""Contention on shared links in whole runs: behaviour, conservation of bytes, utilisation."""

from __future__ import annotations

import numpy as np
import pytest

from sim.run import breakdown
from sim.run.simulation import Simulation, build
from tests.conftest import TOY, make_config


def spine(workers: int, oversubscription: float, *extra):
    """HGX B200 workers of 32 GPUs (4 nodes), spread over four leaf groups of 8 nodes: each worker's
    all-to-all crosses the spine, and every leaf group's uplinks carry one node of each worker."""
    return make_config(
        "platform=b200", "model=deepseek_r1", "precision=fp4", "fleet.racks=32", f"fleet.workers={workers}",
        "worker.tp=32", "worker.dp_attn=true", "fleet.placement=spread", "platform.topology.scaleout.gpus_per_leaf=64",
        f"platform.topology.scaleout.oversubscription={oversubscription}", "workload=closed_loop",
        f"workload.concurrency={128 * workers}", f"workload.num_requests={256 * workers}", "workload.length_dist=fixed",
        "workload.input_tokens=1024", "workload.output_tokens=256", *TOY[1:], *extra,
    )


def run(cfg):
    sim = Simulation(build(cfg))
    return sim, sim.run()


def test_with_a_non_blocking_fabric_adding_workers_changes_nothing():
    _, alone = run(spine(1, 1.0))
    for workers in (2, 4):
        sim, many = run(spine(workers, 1.0))
        assert any(links is not None for links in sim.links)  # they do share the uplinks...
        for w in range(workers):  # ...and every worker serves its requests exactly as the one alone
            mine = many.requests["worker"] == w
            np.testing.assert_allclose(np.sort(many.requests["e2e_s"][mine]), np.sort(alone.requests["e2e_s"]), rtol=1e-12)
        assert many.metrics["comm_time_frac"] == pytest.approx(alone.metrics["comm_time_frac"], rel=1e-12)


def test_adding_workers_on_an_oversubscribed_spine_never_raises_per_worker_throughput():
    per_gpu = []
    for workers in (1, 2, 4, 8):
        _, result = run(spine(workers, 4.0))
        per_gpu.append(result.metrics["tput_per_gpu_tok_s"])
    assert all(later <= earlier * (1 + 1e-9) for earlier, later in zip(per_gpu, per_gpu[1:]))
    assert per_gpu[-1] < 0.8 * per_gpu[0]  # eight workers' traffic exceeds the uplinks: they slow each other


def test_no_link_is_used_beyond_its_bandwidth_and_worker_rates_stay_within_their_links():
    sim, result = run(spine(8, 4.0))
    parts = breakdown.part_seconds(sim.engines)
    utilisation = sim.fabric.link_utilisation(breakdown.worker_link_bytes(sim.deployment.pools, parts), result.metrics["sim_time_s"])
    assert max(utilisation.values()) <= 1.0 + 1e-9
    assert result.metrics["link_util_max"] == pytest.approx(max(utilisation.values()))
    leaf_up = sum(u for (kind, _), u in utilisation.items() if kind == "leaf_up")
    leaf_down = sum(u for (kind, _), u in utilisation.items() if kind == "leaf_down")
    assert leaf_up == pytest.approx(leaf_down) and leaf_up > 0  # what climbs to the spines comes down


def disaggregated(*extra):
    return make_config(
        "platform=b200", "model=deepseek_r1", "precision=fp4", "fleet.workers=2", "worker.tp=16", "worker.dp_attn=true",
        "fleet.prefill_workers=2", "prefill_worker.tp=8", "prefill_worker.dp_attn=true", "workload.load_fraction=null",
        "workload.rate_rps=40", "workload.num_requests=300", *TOY[1:], *extra,
    )


def test_kv_bytes_moved_equal_the_prompts_kv_bytes_and_every_byte_sent_is_received():
    sim, result = run(disaggregated())
    r, dep = result.requests, sim.deployment
    moved = r["kv_transfer_s"] > 0
    assert moved.sum() == (r["output_tokens"] > 1).sum() == 300
    expected = float(((r["input_tokens"] + 1) * dep.kv_bytes_per_token)[moved].sum())
    assert sim.fabric.transferred_bytes == pytest.approx(expected, rel=1e-12)
    link_bytes = sim.fabric.link_bytes
    sent = sum(b for (kind, _), b in link_bytes.items() if kind == "nic_tx")
    received = sum(b for (kind, _), b in link_bytes.items() if kind == "nic_rx")
    assert sent == pytest.approx(expected, rel=1e-9) and received == pytest.approx(expected, rel=1e-9)
    assert not sim.fabric.transfers  # none left in flight
    assert result.metrics["kv_transfer_s_p99"] >= result.metrics["kv_transfer_s_p50"] > 0


def test_kv_transfers_sharing_a_decode_worker_nics_slow_its_all_to_all_and_each_other():
    """The decode workers span two nodes, so their all-to-all uses the NICs the KV caches arrive on."""
    sim, result = run(disaggregated())
    decode = [links for links in sim.links[2:] if links is not None]
    assert len(decode) == 2 and sim.fabric.updates > 300  # every transfer re-plans the worker it lands on
    nic = sim.deployment.platform.scaleout_bytes_per_s
    e = sim.deployment.cfg.perf.alltoall_scaleout_efficiency
    alone = (result.requests["input_tokens"] + 1) * sim.deployment.kv_bytes_per_token / (nic * e)
    assert (result.requests["kv_transfer_s"] > alone).mean() > 0.9  # they shared the NIC with the all-to-all
