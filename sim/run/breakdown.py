"""Where a run's time went: each worker's iterations split into their parts, and the fleet's links' load.

Every engine with a roofline model adds up the :data:`sim.serving.perf.PARTS` of the iterations it ran
(exactly: a decode run's attention is split where its compute and memory lines cross). From them:

* per worker (``workers.csv``) and for the fleet: seconds of GEMMs, attention, the activations' HBM
  traffic between them, expert all-to-all, all-reduce and fixed overheads, which add up to the busy time,
  each with the bound it was at for most of its time (compute or memory; link bandwidth or latency), and the communication seconds
  (all-to-all + all-reduce as exposed, after any overlap with GEMMs); KV transfers happen between
  workers, off their iterations, and are reported as the seconds requests spent in them;
* ``comm_time_frac``: communication seconds over busy seconds, all engines together;
* ``link_util_max``: the busiest link's bytes over its bandwidth times the run's length (transfers'
  bytes from the fabric, workers' from their counters: the mean per GPU port);
* ``kv_transfer_s_p50`` / ``_p99`` over the requests whose cache moved (0 for aggregated fleets).
"""

from __future__ import annotations

import numpy as np

from sim.network.fabric import Fabric, utilisation_max
from sim.network.links import Link
from sim.serving.perf import PARTS

#: Parts of the breakdown: (name, its seconds' PARTS, the bound of each of them)
GROUPS = (
    ("gemm", ("gemm_compute_s", "gemm_memory_s"), ("compute", "memory")),
    ("attention", ("attention_compute_s", "attention_memory_s"), ("compute", "memory")),
    ("activations", ("activation_memory_s",), ("memory",)),
    ("alltoall", ("alltoall_link_s", "alltoall_latency_s"), ("link", "latency")),
    ("allreduce", ("allreduce_link_s", "allreduce_latency_s"), ("link", "latency")),
    ("overhead", ("overhead_s",), ("fixed",)),
)
_INDEX = {name: i for i, name in enumerate(PARTS)}


def part_seconds(engines) -> np.ndarray:
    """Per engine (rows), its totals of :data:`PARTS` (zeros for models that give none)."""
    rows = [e.part_totals.values() if e.part_totals is not None else [0.0] * len(PARTS) for e in engines]
    return np.array(rows, dtype=float).reshape(len(engines), len(PARTS))


def group_seconds(parts: np.ndarray) -> dict[str, np.ndarray]:
    """Seconds of each part of the breakdown, per row of ``parts``."""
    return {name: parts[:, [_INDEX[k] for k in keys]].sum(axis=1) for name, keys, _ in GROUPS}


def bounds(parts: np.ndarray) -> dict[str, np.ndarray]:
    """The bound each part of the breakdown was at for most of its seconds, per row ('' with none)."""
    out = {}
    for name, keys, names in GROUPS:
        seconds = parts[:, [_INDEX[k] for k in keys]]
        out[name] = np.where(seconds.sum(axis=1) > 0, np.array(names)[seconds.argmax(axis=1)], "")
    return out


def transferred(requests) -> np.ndarray:
    """The requests whose KV cache moved from a prefill to a decode worker (they have a first token)."""
    return np.isfinite(requests.first_token_s) & (requests.kv_transfer_s > 0)


def worker_columns(engines, requests) -> dict[str, np.ndarray]:
    """``workers.csv`` columns: communication seconds, each part's seconds and bound, and the seconds the
    KV caches a worker received spent moving."""
    parts = part_seconds(engines)
    seconds, bound = group_seconds(parts), bounds(parts)
    moved = transferred(requests)
    kv_transfer_s = np.bincount(requests.worker[moved], weights=requests.kv_transfer_s[moved], minlength=len(engines))
    columns = {"comm_s": seconds["alltoall"] + seconds["allreduce"]}
    for name, _, _ in GROUPS:
        columns[f"{name}_s"] = seconds[name]
        columns[f"{name}_bound"] = bound[name]
    columns["kv_transfer_s"] = kv_transfer_s
    return columns


def worker_link_bytes(pools, parts: np.ndarray) -> dict[Link, float]:
    """Bytes the workers' collectives put on each link (the mean per GPU port, over the run)."""
    moved: dict[Link, float] = {}
    row = 0
    for pool in pools:
        for collectives in pool.collectives:
            up, out = parts[row, _INDEX["scaleup_bytes"]], parts[row, _INDEX["scaleout_bytes"]]
            row += 1
            for links, per_port in ((collectives.scaleup_links, up), (collectives.scaleout_links, out)):
                for link, coef in links.items():
                    moved[link] = moved.get(link, 0.0) + coef * per_port
    return moved


def communication_metrics(pools, engines, fabric: Fabric, requests, sim_time_s: float) -> dict[str, float]:
    """The run's communication figures (see the module's docstring) and the fleet's breakdown shares."""
    parts = part_seconds(engines)
    busy_s = float(sum(e.busy_s for e in engines))
    seconds = {name: float(v.sum()) for name, v in group_seconds(parts).items()}
    comm_s = seconds["alltoall"] + seconds["allreduce"]
    utilisation = fabric.link_utilisation(worker_link_bytes(pools, parts), sim_time_s)
    moved = requests.kv_transfer_s[transferred(requests)]
    metrics = {
        "comm_time_frac": comm_s / busy_s if busy_s > 0 else 0.0,
        "link_util_max": float(utilisation_max(utilisation)),
        "kv_transfer_s_p50": float(np.percentile(moved, 50)) if moved.size else 0.0,
        "kv_transfer_s_p99": float(np.percentile(moved, 99)) if moved.size else 0.0,
        "kv_transferred_bytes": fabric.transferred_bytes,
    }
    for name, value in seconds.items():
        metrics[f"{name}_time_frac"] = value / busy_s if busy_s > 0 else 0.0
    return metrics


def breakdown_rows(parts: np.ndarray, busy_s: np.ndarray, roles: np.ndarray) -> list[dict]:
    """The iteration-time breakdown as table rows: every worker, then the fleet (``worker`` = fleet)."""
    seconds, bound = group_seconds(parts), bounds(parts)
    fleet_parts = parts.sum(axis=0, keepdims=True)
    fleet_seconds, fleet_bound = group_seconds(fleet_parts), bounds(fleet_parts)
    rows = []
    for w in range(len(busy_s) + 1):
        last = w == len(busy_s)
        busy = float(busy_s.sum()) if last else float(busy_s[w])
        for name, _, _ in GROUPS:
            value = float(fleet_seconds[name][0] if last else seconds[name][w])
            rows.append({
                "worker": "fleet" if last else str(w), "role": "all" if last else str(roles[w]), "part": name,
                "seconds": value, "share_of_busy": value / busy if busy > 0 else 0.0,
                "bound": str(fleet_bound[name][0] if last else bound[name][w]),
            })
    return rows
