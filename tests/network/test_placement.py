"""Placement of workers on the fleet's domains, and where their collectives' bytes go."""

from __future__ import annotations

import itertools

import pytest

from sim.base.config import ConfigError, compose_config
from sim.network.collectives import Collectives
from sim.network.placement import check_width, place
from sim.spec.platform import Platform


def topology(*overrides):
    return Platform.from_config(compose_config(*overrides).platform).topology


HGX = topology("platform=b200", "platform.topology.scaleout.gpus_per_leaf=32")  # 4 nodes per leaf group


def test_packed_fills_domains_in_order_and_never_splits_a_narrow_worker():
    placement = place(HGX, [8, 4, 8, 4, 4], 4, "packed")
    assert placement.workers[0] == tuple(range(0, 8)) and placement.workers[2] == tuple(range(8, 16))
    for gpus in placement.workers:
        assert len({HGX.domain(g) for g in gpus}) == 1
    assert sorted(g for w in placement.workers for g in w) == list(range(28))  # no GPU twice
    assert place(HGX, [8, 8, 8, 8, 4], 4, "packed") is None  # 36 GPUs on 32


def test_a_wide_worker_takes_whole_domains_spread_over_leaf_groups_or_packed_in_one():
    packed = place(HGX, [32, 32], 8, "packed")
    assert [{HGX.leaf_group(g) for g in w} for w in packed.workers] == [{0}, {1}]
    spread = place(HGX, [32, 32], 8, "spread")
    assert [{HGX.leaf_group(g) for g in w} for w in spread.workers] == [{0, 1}, {0, 1}]
    assert all(len(w) == 32 and len({HGX.domain(g) for g in w}) == 4 for w in spread.workers)
    with pytest.raises(ConfigError, match="worker.tp=12 spans 2 scale-up domains of 8 GPUs"):
        check_width(HGX, 12, "worker")
    with pytest.raises(ConfigError, match="fleet.placement='random' is unknown"):
        place(HGX, [8], 1, "random")


def _traffic(topo, gpus):
    """An independent count: a uniform all-to-all of one byte from every GPU to each of its peers, the
    bytes on scale-up ports, on NICs and leaving each leaf group."""
    up = out = 0
    leaving: dict[int, int] = {}
    for a, b in itertools.permutations(gpus, 2):
        if topo.domain(a) == topo.domain(b):
            up += 1
        else:
            out += 1
            if topo.leaf_group(a) != topo.leaf_group(b):
                leaving[topo.leaf_group(a)] = leaving.get(topo.leaf_group(a), 0) + 1
    return up, out, leaving


@pytest.mark.parametrize("widths, policy", [([8], "packed"), ([32], "packed"), ([32, 32], "spread"), ([64], "packed")])
def test_all_to_all_shares_and_leaf_loads_match_the_traffic_between_gpu_pairs(widths, policy):
    placement = place(HGX, widths, 16, policy)
    gpus = placement.workers[-1]
    c = Collectives(HGX, gpus, 5e-6)
    up, out, leaving = _traffic(HGX, gpus)
    sent = len(gpus) * (len(gpus) - 1)  # bytes sent = bytes received: every ordered pair once
    assert c.alltoall_up_share + c.alltoall_out_share == pytest.approx(1.0)
    assert c.alltoall_up_share * sent == pytest.approx(up) and c.alltoall_out_share * sent == pytest.approx(out)
    per_nic = out / len(gpus)  # the bytes one NIC carries (coefficient 1 on each NIC of the flow)
    for (kind, leaf), coef in c.scaleout_links.items():
        if kind == "leaf_up":
            assert coef * per_nic == pytest.approx(leaving[leaf])
    assert set(leaving) == {leaf for kind, leaf in c.scaleout_links if kind == "leaf_up"}


def test_alone_a_worker_gets_its_port_or_nic_unless_its_leaf_uplinks_are_narrower():
    for oversubscription, expected in ((1.0, 1.0), (2.0, 1.0), (4.0, 0.75)):
        topo = topology("platform=b200", "platform.topology.scaleout.gpus_per_leaf=32",
                        f"platform.topology.scaleout.oversubscription={oversubscription}")
        spread = place(topo, [32, 32], 8, "spread").workers[0]  # two nodes in each of two leaf groups
        c = Collectives(topo, spread, 5e-6)
        # each leaf carries 16 GPUs' traffic to the 16 peers below the other: 16 x 16/24 NIC-loads over 32 x NIC / o
        assert c.scaleout_bytes_per_s == pytest.approx(min(1.0, 32 / oversubscription / (16 * 16 / 24)) * topo.nic_bytes_per_s)
        assert c.scaleout_bytes_per_s / topo.nic_bytes_per_s == pytest.approx(expected)


def test_on_a_full_mesh_a_pair_gets_a_seventh_and_an_all_to_all_of_all_eight_all_of_it():
    mesh = topology("platform=mi300x")
    assert mesh.kind == "full_mesh" and mesh.scaleup_share(1) == pytest.approx(1 / 7)
    assert Collectives(mesh, tuple(range(8)), 5e-6).scaleup_bytes_per_s == pytest.approx(mesh.scaleup_bytes_per_s)
    assert Collectives(mesh, tuple(range(4)), 5e-6).scaleup_bytes_per_s == pytest.approx(3 / 7 * mesh.scaleup_bytes_per_s)
    switched = topology("platform=h200")
    assert Collectives(switched, tuple(range(4)), 5e-6).scaleup_bytes_per_s == switched.scaleup_bytes_per_s


def up_path(topo) -> float:
    return topo.scaleup_hop_s + 7 * topo.scaleup_peer_s  # a hop and a message to each of 7 peers in an 8-GPU domain


def test_latencies_grow_with_peers_and_with_the_switches_crossed():
    one_domain = Collectives(HGX, tuple(range(8)), 5e-6)  # 5 us on top of what the platform measures
    assert one_domain.alltoall_latency_s == pytest.approx(5e-6 + HGX.scaleup_alltoall_s + HGX.scaleup_hop_s + 7 * HGX.scaleup_peer_s)
    assert one_domain.allreduce_latency_s == pytest.approx(5e-6 + HGX.scaleup_allreduce_s + 2 * (HGX.scaleup_hop_s + 7 * HGX.scaleup_peer_s))
    four_nodes = Collectives(HGX, tuple(range(32)), 5e-6)  # one leaf group: NIC, leaf, NIC (+ the rail hop)
    path = 2 * HGX.nic_latency_s + HGX.switch_latency_s + HGX.scaleup_hop_s
    inside, across = HGX.scaleup_alltoall_s + up_path(HGX), HGX.scaleout_alltoall_s + path + 24 * HGX.scaleout_peer_s
    assert four_nodes.alltoall_latency_s == pytest.approx(5e-6 + max(inside, across))  # the slower of its two paths
    # across four domains: the network's fixed cost, two shots inside each domain and 2 x 3 network steps
    up = up_path(HGX)
    assert four_nodes.allreduce_latency_s == pytest.approx(5e-6 + HGX.scaleout_allreduce_s + 2 * up + 6 * path)
    eight_nodes = Collectives(HGX, tuple(range(64)), 5e-6)  # two leaf groups: up through a spine
    assert eight_nodes.scaleout_path_s == pytest.approx(path + 2 * HGX.switch_latency_s)
    assert eight_nodes.alltoall_latency_s >= four_nodes.alltoall_latency_s >= one_domain.alltoall_latency_s
    assert eight_nodes.allreduce_latency_s > four_nodes.allreduce_latency_s > one_domain.allreduce_latency_s
