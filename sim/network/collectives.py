"""A worker's collectives on the GPUs it was placed on: which links their bytes cross, their latencies,
and the bandwidth the worker gets when it has its links to itself.

A worker of ``tp`` GPUs holds ``n`` of them in each of its ``m`` scale-up domains (n = tp and m = 1 when
it fits in one; whole domains when it does not).

**All-to-all** (the MoE dispatch of tokens to their experts and the combine of the outputs): every GPU
exchanges with its tp - 1 peers, uniformly under uniform routing, so a share (n - 1)/(tp - 1) of its
bytes goes over its scale-up port and (tp - n)/(tp - 1) over its NIC, both at once: the bandwidth part
of its time is the larger of the two (each bytes over the port's rate times the all-to-all's achieved
fraction for that kind of link). Its latency is the longer of the two paths: the fixed cost of one
dispatch or combine on that kind of link (what microbenchmarks of the kernels measure with a token or
two: launch, barrier, completion flags), one scale-up hop (or two NICs, one or three switches and, with
rail-optimised wiring, the scale-up hop to the right rail) and a cost per peer.

**All-reduce** (tensor-parallel layers), hierarchical: a reduce-scatter among the n GPUs of each domain,
an all-reduce of the 1/n shards across the m domains over the NICs, an all-gather in the domain. Per byte
of the reduced vector a GPU moves 2(n - 1)/n bytes over its port and 2(m - 1)/(m·n) over its NIC (what a
ring moves); the phases are pipelined chunk by chunk, so the slower link sets the bandwidth part. Its
latency: the fixed cost of a small all-reduce inside a domain (one-shot kernels under CUDA graphs) or
across domains (NCCL's tree or ring over the NICs), and two shots, each a hop and a cost per peer inside
the domain, and across domains 2(m - 1) network steps.

**Alone on its links** a worker's scale-up rate is its port's bandwidth (on a full mesh the share of its
D - 1 pair links that lead to its own peers) and its scale-out rate its NIC's, unless its leaf groups'
uplinks are narrower: a leaf group's uplink carries the traffic of the worker's GPUs below it to the
peers in its other leaf groups.
"""

from __future__ import annotations

from sim.network.links import Link
from sim.spec.topology import Topology


class Collectives:
    """All-to-all and all-reduce of one worker placed on ``gpus`` (fleet-wide indices)."""

    def __init__(self, topology: Topology, gpus: tuple[int, ...], extra_latency_s: float = 0.0):
        tp = len(gpus)
        per_domain: dict[int, int] = {}
        per_leaf: dict[int, int] = {}
        for g in gpus:
            per_domain[topology.domain(g)] = per_domain.get(topology.domain(g), 0) + 1
            per_leaf[topology.leaf_group(g)] = per_leaf.get(topology.leaf_group(g), 0) + 1
        n, m = max(per_domain.values()), len(per_domain)
        self.domains = m
        self.peers_up, self.peers_out = n - 1, tp - n
        peers = max(1, tp - 1)
        self.alltoall_up_share = self.peers_up / peers  # of a GPU's all-to-all bytes
        self.alltoall_out_share = self.peers_out / peers
        self.allreduce_up_factor = 2.0 * (n - 1) / n  # bytes per byte of the reduced vector
        self.allreduce_out_factor = 2.0 * (m - 1) / m / n

        across_leaves = len(per_leaf) > 1
        up_s, out_s = topology.scaleup_hop_s, topology.scaleout_latency_s(across_leaves)
        self.scaleout_path_s = out_s  # one-way, between two of its domains
        up_messages = up_s + self.peers_up * topology.scaleup_peer_s if self.peers_up else 0.0
        out_messages = out_s + self.peers_out * topology.scaleout_peer_s if self.peers_out else 0.0
        up_alltoall = topology.scaleup_alltoall_s + up_messages if self.peers_up else 0.0
        out_alltoall = topology.scaleout_alltoall_s + out_messages if self.peers_out else 0.0
        self.alltoall_latency_s = extra_latency_s + max(up_alltoall, out_alltoall)
        fixed = topology.scaleout_allreduce_s if m > 1 else topology.scaleup_allreduce_s
        self.allreduce_latency_s = extra_latency_s + fixed + 2 * up_messages + 2 * (m - 1) * out_s

        # The worker's two flows, per GPU port: scale-up (its ports) and scale-out (its NICs, and the
        # uplinks of its leaf groups carrying the traffic to its peers below other leaves).
        self.scaleup_links: dict[Link, float] = {}
        self.scaleout_links: dict[Link, float] = {}
        if self.peers_up:
            for g in gpus:
                self.scaleup_links[("up_tx", g)] = self.scaleup_links[("up_rx", g)] = 1.0
        # (a worker alone in its domain sends nothing over it: its rate is one pair link's, never used)
        self.scaleup_cap_bytes_per_s = topology.scaleup_share(max(1, self.peers_up)) * topology.scaleup_bytes_per_s
        self.scaleup_bytes_per_s = self.scaleup_cap_bytes_per_s
        self.scaleout_bytes_per_s = topology.nic_bytes_per_s
        if self.peers_out:
            for g in gpus:
                self.scaleout_links[("nic_tx", g)] = self.scaleout_links[("nic_rx", g)] = 1.0
            if across_leaves:
                for leaf, below in per_leaf.items():
                    share = below * (tp - below) / self.peers_out
                    self.scaleout_links[("leaf_up", leaf)] = self.scaleout_links[("leaf_down", leaf)] = share
                    self.scaleout_bytes_per_s = min(self.scaleout_bytes_per_s, topology.leaf_uplink_bytes_per_s / share)

    @classmethod
    def alone(cls, topology: Topology, tp: int, extra_latency_s: float = 0.0) -> "Collectives":
        """A worker of ``tp`` GPUs placed alone from the first GPU of a fleet (whole domains if wider)."""
        return cls(topology, tuple(range(tp)), extra_latency_s)

    @property
    def shape(self) -> tuple[float, ...]:
        """What the worker's collectives cost depends on (workers of one shape share a performance model)."""
        return (
            self.peers_up, self.peers_out, self.domains, self.alltoall_latency_s, self.allreduce_latency_s,
            self.scaleup_bytes_per_s, self.scaleout_bytes_per_s,
        )
