"""The links of a fleet's fabric, their bandwidths, and the path of a transfer between GPUs.

Every direction of a link is its own resource (links are full duplex), named by a kind and an index:

* ``("up_tx", g)``, ``("up_rx", g)``: GPU g's scale-up port (NVLink; on a full mesh its D - 1 pair links
  together);
* ``("nic_tx", g)``, ``("nic_rx", g)``: GPU g's NIC;
* ``("leaf_up", L)``, ``("leaf_down", L)``: all uplinks of leaf group L to the spines, and back down.

A flow is described per GPU port: its rate is the bytes per second it moves through each GPU port it
uses, and its coefficient on a link is how many ports' worth of its traffic that link carries (1 on each
of its GPUs' ports; on a leaf uplink, the traffic of all its GPUs below that leaf that leaves it).
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.spec.topology import Topology

Link = tuple[str, int]  # (kind, GPU or leaf group): up_tx, up_rx, nic_tx, nic_rx (per GPU); leaf_up, leaf_down (per leaf group)


def capacity_bytes_per_s(topology: Topology, link: Link) -> float:
    """Bandwidth of one direction of a link."""
    kind = link[0]
    if kind in ("up_tx", "up_rx"):
        return topology.scaleup_bytes_per_s
    if kind in ("nic_tx", "nic_rx"):
        return topology.nic_bytes_per_s
    return topology.leaf_uplink_bytes_per_s


@dataclass(frozen=True)
class Path:
    """The links a transfer over GPU pairs crosses (per pair: coefficient 1 on each GPU port), its
    latency, whether it stays inside one scale-up domain, and the most one pair can move per second."""

    links: dict[Link, float]
    latency_s: float
    scaleup: bool
    cap_bytes_per_s: float


def transfer_path(topology: Topology, pairs: list[tuple[int, int]]) -> Path:
    """Path of a transfer split evenly over ``pairs`` (source GPU, destination GPU): over the scale-up
    ports when every pair shares a domain, over the NICs (and the leaf uplinks of different leaf
    groups) otherwise."""
    links: dict[Link, float] = {}
    inside = all(topology.domain(s) == topology.domain(d) for s, d in pairs)
    across_leaves = False
    for s, d in pairs:
        if inside:
            kinds = ("up_tx", "up_rx")
        else:
            kinds = ("nic_tx", "nic_rx")
            if topology.leaf_group(s) != topology.leaf_group(d):
                across_leaves = True
                for key in (("leaf_up", topology.leaf_group(s)), ("leaf_down", topology.leaf_group(d))):
                    links[key] = links.get(key, 0.0) + 1.0
        for key in ((kinds[0], s), (kinds[1], d)):
            links[key] = links.get(key, 0.0) + 1.0
    if inside:
        return Path(links, topology.scaleup_hop_s, True, topology.scaleup_share(1) * topology.scaleup_bytes_per_s)
    return Path(links, topology.scaleout_latency_s(across_leaves), False, topology.nic_bytes_per_s)


def transfer_links(topology: Topology, sources: list[int], destinations: list[int]) -> set[Link]:
    """Every link a transfer from one of ``sources`` to one of ``destinations`` may cross."""
    links: set[Link] = set()
    for gpus, other, ends in ((sources, destinations, ("up_tx", "nic_tx", "leaf_up")), (destinations, sources, ("up_rx", "nic_rx", "leaf_down"))):
        domains, leaves = {topology.domain(g) for g in other}, {topology.leaf_group(g) for g in other}
        for g in gpus:
            if topology.domain(g) in domains:
                links.add((ends[0], g))
            if domains - {topology.domain(g)}:
                links.add((ends[1], g))
            if leaves - {topology.leaf_group(g)}:
                links.add((ends[2], topology.leaf_group(g)))
    return links
