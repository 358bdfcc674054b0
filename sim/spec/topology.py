"""The wiring of a platform's GPUs: scale-up domains joined by a scale-out network.

GPUs sit in **scale-up domains** (an 8-GPU HGX or MI300-series node, a 72-GPU NVL72 rack). Inside a
domain, NVLink through NVSwitches is ``switched``: any GPU reaches any other at its whole port bandwidth,
and disjoint pairs do not interfere. AMD's Infinity Fabric is a ``full_mesh``: one link per GPU pair, so
a point-to-point transfer gets 1/(D - 1) of a GPU's bandwidth while a collective over all D GPUs uses all
of it (a collective over n GPUs of the mesh, (n - 1)/(D - 1) of it).

Between domains every GPU has a NIC into a **leaf group**: one leaf switch, or with rail-optimised wiring
(NIC i of every node on leaf i) a group of rail leaves, reached across rails through one scale-up hop
(PXN). Traffic between leaf groups climbs to the spines through the group's uplinks, whose bandwidth is
its GPUs' NIC bandwidth over the ``oversubscription`` ratio (1: non-blocking). The spines themselves are
non-blocking: the uplinks are where flows of different leaf groups meet.

Values are per GPU, one direction, in SI units (bytes/s, seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.base.config import ConfigError, PlatformConfig

SCALEUP_KINDS = ("switched", "full_mesh")


@dataclass(frozen=True)
class Topology:
    """Scale-up domains of ``domain_gpus`` GPUs on a leaf-spine network (rates per GPU, one direction)."""

    kind: str  # switched | full_mesh
    domain_gpus: int
    scaleup_bytes_per_s: float  # a GPU's scale-up port (a full mesh: its D - 1 pair links together)
    scaleup_hop_s: float  # one-way latency GPU to GPU inside a domain
    scaleup_peer_s: float  # a collective's extra time per peer inside the domain
    nic_bytes_per_s: float
    rail_optimized: bool
    domains_per_leaf: int  # scale-up domains in one leaf group
    oversubscription: float  # leaf down : up bandwidth
    nic_latency_s: float  # each end
    switch_latency_s: float  # per switch crossed
    scaleout_peer_s: float  # a collective's extra time per peer across the network
    # the fixed cost of one collective of each kind (launch, synchronisation), as microbenchmarks measure it
    scaleup_alltoall_s: float = 20e-6
    scaleup_allreduce_s: float = 5e-6
    scaleout_alltoall_s: float = 60e-6
    scaleout_allreduce_s: float = 20e-6

    @classmethod
    def from_config(cls, cfg: PlatformConfig) -> "Topology":
        """The platform's topology block, checked (ranges are checked by the schema's bounds)."""
        up, out = cfg.topology.scaleup, cfg.topology.scaleout
        if up.kind not in SCALEUP_KINDS:
            raise ConfigError(
                f"platform.topology.scaleup.kind={up.kind!r} is unknown (platform {cfg.name}); use one of {', '.join(SCALEUP_KINDS)}"
            )
        for key, value in (("scaleup.domain_gpus", up.domain_gpus), ("scaleup.gpu_gb_s", up.gpu_gb_s), ("scaleout.nic_gbps", out.nic_gbps)):
            if not value > 0:
                raise ConfigError(f"platform.topology.{key}={value} must be positive (platform {cfg.name})")
        d = up.domain_gpus
        if cfg.gpus_per_rack % d:
            raise ConfigError(
                f"platform.gpus_per_rack={cfg.gpus_per_rack} must be a whole number of scale-up domains of "
                f"platform.topology.scaleup.domain_gpus={d} GPUs (platform {cfg.name})"
            )
        if out.gpus_per_leaf % d:
            raise ConfigError(
                f"platform.topology.scaleout.gpus_per_leaf={out.gpus_per_leaf} must be a whole number of scale-up "
                f"domains of {d} GPUs ({d}, {2 * d}, ...) (platform {cfg.name})"
            )
        if not out.oversubscription >= 1:
            raise ConfigError(
                f"platform.topology.scaleout.oversubscription={out.oversubscription} must be >= 1 "
                "(leaf down : up bandwidth; 1 is a non-blocking fabric)"
            )
        return cls(
            kind=up.kind,
            domain_gpus=d,
            scaleup_bytes_per_s=up.gpu_gb_s * 1e9,
            scaleup_hop_s=up.hop_latency_s,
            scaleup_peer_s=up.peer_latency_s,
            nic_bytes_per_s=out.nic_gbps * 1e9 / 8,
            rail_optimized=out.rail_optimized,
            domains_per_leaf=out.gpus_per_leaf // d,
            oversubscription=out.oversubscription,
            nic_latency_s=out.nic_latency_s,
            switch_latency_s=out.switch_latency_s,
            scaleout_peer_s=out.peer_latency_s,
            scaleup_alltoall_s=up.alltoall_latency_s,
            scaleup_allreduce_s=up.allreduce_latency_s,
            scaleout_alltoall_s=out.alltoall_latency_s,
            scaleout_allreduce_s=out.allreduce_latency_s,
        )

    def domain(self, gpu: int) -> int:
        return gpu // self.domain_gpus

    def leaf_group(self, gpu: int) -> int:
        return gpu // self.domain_gpus // self.domains_per_leaf

    @property
    def leaf_uplink_bytes_per_s(self) -> float:
        """Bandwidth from one leaf group up to the spines (and back down), all its uplinks together."""
        return self.domains_per_leaf * self.domain_gpus * self.nic_bytes_per_s / self.oversubscription

    def scaleup_share(self, peers: int) -> float:
        """Fraction of a GPU's scale-up bandwidth a transfer to ``peers`` GPUs of its domain can use:
        all of it through switches, ``peers`` of the D - 1 pair links of a full mesh."""
        if self.kind == "switched" or self.domain_gpus <= 1:
            return 1.0
        return min(1.0, peers / (self.domain_gpus - 1))

    def scaleout_latency_s(self, across_leaf_groups: bool) -> float:
        """One-way latency of a message between two domains: both NICs, one leaf (three switches up
        through a spine between leaf groups), and with rail-optimised wiring the scale-up hop to the
        NIC of the destination's rail."""
        switches = 3 if across_leaf_groups else 1
        rail_hop = self.scaleup_hop_s if self.rail_optimized else 0.0
        return 2 * self.nic_latency_s + switches * self.switch_latency_s + rail_hop
