"""Operation-level validation: ``python -m sim.validate --ops [FILE] [--json OUT]``.

Predicts every usable row of ``data/reference/collective_ops.csv`` and ``kernel_ops.csv`` (or one FILE of
either schema, recognised by its header) with the network layer and the per-kernel model alone, no
simulation, and reports the error (predicted / measured - 1), so the fabric and the kernels are checked
before any end-to-end fit. Only ``usable`` = 1 rows are predicted; the others are listed with their reason.

**Collectives.** The row's platform (``conf/platform``) gives a :class:`~sim.spec.topology.Topology`, with
a scale-up domain of ``ranks_per_domain`` GPUs (leaf groups keep their GPU count) and the row's
``link_gb_s`` as the scale-up port (``link`` = scaleup) or the NIC per GPU (``link`` = scaleout). The group
sits on GPUs 0..ranks-1 and :class:`~sim.network.collectives.Collectives` gives its shares, latencies and
rates. A row whose note says the kernels ran pure RDMA (the Feb-2025 DeepEP low-latency runs: every byte,
intra-node too, through the NICs), or a scale-out row whose group fits in one domain, is modelled with one
GPU per domain, so every byte crosses the NICs as the source says. Efficiencies are the platform's
(``topology.scaleup`` / ``scaleout``), as the performance model uses them (:mod:`sim.serving.perf`).

- dispatch / combine: logical bytes per rank B = tokens x top_k x hidden x elem (every top-k copy); the
  simulator's count of what crosses links, the copies to experts on other ranks, is B x (ranks-1)/ranks
  (:func:`sim.spec.model.copies_sent`), split by ``alltoall_up_share`` / ``out_share``;
  time = alltoall latency + max(up / (eff_up x port), out / (eff_out x NIC)).
- allreduce of S bytes: allreduce latency + S x max(up_factor / (eff_up x port), out_factor / (eff_out x NIC)).
- allgather / reducescatter (S = the gathered output / the full input): half the all-reduce's byte
  factors, and one shot of latency: the fixed cost plus half of the all-reduce's hops and network steps.
- alltoall (generic, S = one rank's send buffer): S x (ranks-1)/ranks as for dispatch.
- p2p of S bytes: S / (alltoall efficiency x the link's rate) + one scale-up hop, or the scale-out path.

Compared: the time where the row has ``measured_s``; otherwise the bandwidth ``measured_gb_s`` in the
source's own convention: predicted bandwidth = B_src / predicted time, B_src the bytes the source counts
(said in ``note``): every top-k copy (TensorRT-LLM, DeepEP low-latency, Hybrid-EP: B); tokens once per
distinct destination rank (DeepEP normal intra-node, MoRI xGMI: tokens x D x hidden x elem, D =
ranks x (1 - (1 - 1/ranks)^top_k) under uniform routing); once per distinct node (DeepEP / MoRI RDMA: D over
the g nodes, g = min(nodes, 4) where routing is limited to 4 node groups). DeepEP counts FP8 scales:
x (1 + 4/128). Comparing B_src / time in that convention is comparing the times: a kernel that deduplicates
moves fewer bytes than the simulator's count, and the error shows it. nccl-tests rows carry a time derived
from busbw (``measured_s``).

**Kernels.** time = ``kernel_floor_s`` + max(flops / F, hbm_bytes / W) (a missing figure counts 0), the
platform's ``kernels``: GEMMs F = {dtype}_dense_tflops x gemm_fraction[dtype], W = HBM x
weight_read_fraction[dtype] (nearest wider type where the table lacks one, :func:`sim.spec.efficiency.
kernel_fraction`); grouped (MoE expert) GEMMs take grouped_gemm_fraction and grouped_weight_read_fraction
where the platform lists them; attention F = bf16 peak x attention_fraction, W = HBM x stream_fraction (HBM streams
alike); a ``kernel_floor`` row predicts ``kernel_floor_s``. This is how the performance model prices a
layer's GEMMs (max of compute and weight reads) plus a floor per kernel.

A file with neither header, empty or unreadable is refused whole (:class:`~sim.errors.InputError`); a bad
row becomes a :class:`~sim.fidelity.cases.RowProblem` and never stops the others. Exit status 0 when at
least one row was predicted.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import sys
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from sim.base.config import ConfigError
from sim.base.errors import CommandParser, InputError, run_command
from sim.fidelity.cases import RowProblem, config_names
from sim.base.files import atomic_write_text, check_output_file, read_text
from sim.spec.model import copies_sent

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "reference"
SHIPPED = (REFERENCE / "collective_ops.csv", REFERENCE / "kernel_ops.csv")
COLUMNS = {
    "collective": (
        "fact_id", "platform", "operation", "link", "ranks", "ranks_per_domain", "link_gb_s", "tokens_per_rank", "hidden",
        "top_k", "elem_bytes", "message_bytes", "measured_s", "measured_gb_s", "bw_convention", "usable",
    ),
    "kernel": ("fact_id", "platform", "generation", "kernel", "dtype", "flops", "hbm_bytes", "measured_s", "usable"),
}
FILE_NAMES = {"collective": "collective_ops", "kernel": "kernel_ops"}
MOE_OPS = ("dispatch", "combine")
BUFFER_OPS = ("alltoall", "allreduce", "allgather", "reducescatter", "p2p")
KERNELS = ("gemm", "grouped_gemm", "attention_prefill", "attention_decode", "hbm_stream", "kernel_floor")
FP8_SCALES = 1 + 4 / 128  # DeepEP sends a float scale per 128 FP8 elements


class _Bad(Exception):
    """A row's value that keeps it from being predicted: (column, reason)."""


@dataclass(frozen=True)
class OpResult:
    """One row: its prediction, or why it is not predictable (``reason``)."""

    kind: str  # collective | kernel
    fact_id: str
    row: int
    platform: str
    operation: str
    group: str  # link kind (collectives) or generation (kernels): the summary's breakdown
    shape: str = ""
    compared: str = "time"  # time | bw:topk | bw:rank-dedup | bw:node-dedup
    measured: float | None = None  # seconds, or GB/s for bandwidth comparisons
    predicted: float | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def error(self) -> float | None:
        return self.predicted / self.measured - 1 if self.ok else None


def _num(v: dict, column: str, required: bool = True, positive: bool = True, integer: bool = False) -> float | None:
    text = v.get(column, "")
    if not text:
        if required:
            raise _Bad(column, "no value; this row's prediction needs it")
        return None
    try:
        x = float(text)
    except ValueError:
        raise _Bad(column, f"{text!r} is not a number") from None
    kind = "a positive integer" if integer else "a positive number" if positive else "a non-negative number"
    if not math.isfinite(x) or x < 0 or (positive and x == 0) or (integer and x != int(x)):
        raise _Bad(column, f"{text!r} is not allowed: it must be {kind}")
    return x


@lru_cache(maxsize=None)
def _platform(name: str):
    from sim.base.config import compose_config

    return compose_config(f"platform={name}").platform


def _platform_of(v: dict):
    known = config_names("platform")
    if v["platform"] not in known:
        raise _Bad("platform", f"unknown platform {v['platform']!r}; known: {', '.join(known)}")
    return _platform(v["platform"])


def short_reason(note: str) -> str:
    """One short line of a row's note saying why it is not predictable."""
    low = note.lower()
    at = low.find("unusable")
    text = note[at + len("unusable"):] if at >= 0 else note
    text = text.lstrip(" :").removeprefix("here:").removeprefix("as a prediction case:").strip()
    for stop in ("; ", ". "):
        text = text.split(stop)[0]
    return (text[:97] + "...") if len(text) > 100 else (text or "usable = 0")


def _human(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:g}{unit}"
    return f"{n:g}B"


def collectives_for(platform, link: str, ranks: int, ranks_per_domain: int, link_gb_s: float | None, all_nic: bool = False):
    """The topology of a row's group and its :class:`Collectives` (group on GPUs 0..ranks-1); ``all_nic``:
    one GPU per domain (every byte over the NICs)."""
    from sim.network.collectives import Collectives
    from sim.spec.topology import Topology

    topo = Topology.from_config(platform)
    domain = 1 if link == "scaleout" and (all_nic or ranks <= ranks_per_domain) else ranks_per_domain
    leaf_gpus = topo.domains_per_leaf * topo.domain_gpus
    changes = {"domain_gpus": domain, "domains_per_leaf": max(1, leaf_gpus // domain)}
    if link_gb_s:
        changes["scaleup_bytes_per_s" if link == "scaleup" else "nic_bytes_per_s"] = link_gb_s * 1e9
    topo = replace(topo, **changes)
    return topo, Collectives(topo, tuple(range(ranks)))


def collective_time_s(
    platform, operation: str, link: str, ranks: int, ranks_per_domain: int, link_gb_s: float | None, size: float, all_nic: bool = False,
    top_k: int = 1,
) -> float:
    """Predicted time of one operation; ``size`` = B (dispatch/combine: every top-k copy) or the message bytes."""
    topo, c = collectives_for(platform, link, ranks, ranks_per_domain, link_gb_s, all_nic)
    up, out = platform.topology.scaleup, platform.topology.scaleout
    up_rate, out_rate = c.scaleup_bytes_per_s, c.scaleout_bytes_per_s
    if operation in MOE_OPS + ("alltoall",):
        # the simulator's count of the copies crossing links (sim.spec.model.copies_sent)
        crossing = size / top_k * copies_sent(ranks, top_k) if operation in MOE_OPS else size * (ranks - 1) / ranks
        up_s = crossing * c.alltoall_up_share / (up.alltoall_efficiency * up_rate)
        out_s = crossing * c.alltoall_out_share / (out.alltoall_efficiency * out_rate)
        return c.alltoall_latency_s + max(up_s, out_s)
    if operation in ("allreduce", "allgather", "reducescatter"):
        per_byte = max(c.allreduce_up_factor / (up.allreduce_efficiency * up_rate), c.allreduce_out_factor / (out.allreduce_efficiency * out_rate))
        if operation == "allreduce":
            return c.allreduce_latency_s + size * per_byte
        fixed = topo.scaleout_allreduce_s if c.domains > 1 else topo.scaleup_allreduce_s
        return fixed + (c.allreduce_latency_s - fixed) / 2 + size * per_byte / 2
    if operation == "p2p":
        if link == "scaleup":
            return topo.scaleup_hop_s + size / (up.alltoall_efficiency * topo.scaleup_share(1) * topo.scaleup_bytes_per_s)
        return topo.scaleout_latency_s(False) + size / (out.alltoall_efficiency * topo.nic_bytes_per_s)
    raise _Bad("operation", f"unknown operation {operation!r}; use one of {', '.join(MOE_OPS + BUFFER_OPS)}")


def source_bytes(v: dict, ranks: int, ranks_per_domain: int, tokens: float, top_k: int, hidden: float, elem: float) -> tuple[str, float]:
    """The convention of a dispatch/combine bandwidth (read from the note) and the bytes it counts."""
    note = v.get("note", "").lower()
    if "destination rank" in note or "distinct rank" in note:
        convention, targets = "rank-dedup", ranks
    elif "node) pairs" in note or "distinct node" in note:
        nodes = max(1, math.ceil(ranks / ranks_per_domain))
        convention, targets = "node-dedup", min(nodes, 4) if "min(nodes,4)" in note.replace(" ", "") else nodes
    else:
        return "topk", tokens * top_k * hidden * elem
    distinct = targets * (1 - (1 - 1 / targets) ** top_k)
    scales = FP8_SCALES if elem == 1 and "deepep" in note else 1.0
    return convention, tokens * distinct * hidden * elem * scales


def predict_collective(v: dict, row: int = 0) -> OpResult:
    """A usable collective_ops row's prediction (raises :class:`_Bad` for a value it cannot use)."""
    platform = _platform_of(v)
    op, link = v["operation"], v["link"]
    if op not in MOE_OPS + BUFFER_OPS:
        raise _Bad("operation", f"unknown operation {op!r}; use one of {', '.join(MOE_OPS + BUFFER_OPS)}")
    if link not in ("scaleup", "scaleout"):
        raise _Bad("link", f"{link!r} is neither scaleup nor scaleout")
    ranks = int(_num(v, "ranks", integer=True))
    per_domain = int(_num(v, "ranks_per_domain", integer=True))
    if ranks < 2 or per_domain > ranks:
        raise _Bad("ranks", f"{ranks} ranks with {per_domain} per domain: a collective needs 2 or more ranks, at most ranks per domain")
    link_gb_s = _num(v, "link_gb_s", required=False)
    measured_s, measured_bw = _num(v, "measured_s", required=False), _num(v, "measured_gb_s", required=False)
    if measured_s is None and measured_bw is None:
        raise _Bad("measured_s", "neither measured_s nor measured_gb_s: nothing to compare")
    compared, measured, b_src = "time", measured_s, None
    if op in MOE_OPS:
        tokens, hidden = _num(v, "tokens_per_rank"), _num(v, "hidden")
        top_k, elem = int(_num(v, "top_k", integer=True)), _num(v, "elem_bytes")
        size = tokens * top_k * hidden * elem
        shape = f"EP{ranks}/{per_domain} T{tokens:g} k{top_k} H{hidden:g} {elem:g}B"
        if measured_s is None:
            convention, b_src = source_bytes(v, ranks, per_domain, tokens, top_k, hidden, elem)
            compared, measured = f"bw:{convention}", measured_bw
    else:
        size = _num(v, "message_bytes")
        shape = f"{ranks}/{per_domain} ranks {_human(size)}"
        if measured_s is None:
            convention = v.get("bw_convention", "")
            if convention not in ("algbw", "physical"):
                raise _Bad("measured_s", f"no time, and a {convention or 'missing'} bandwidth of this operation is not converted")
            measured = size / (measured_bw * 1e9)
    shape += f" @{link_gb_s:g}" if link_gb_s else ""
    all_nic = "pure-rdma" in v.get("note", "").lower().replace(" ", "-")
    shape += " allNIC" if all_nic else ""
    predicted = collective_time_s(platform, op, link, ranks, per_domain, link_gb_s, size, all_nic, top_k if op in MOE_OPS else 1)
    if b_src is not None:
        predicted = b_src / predicted / 1e9  # GB/s in the source's convention
    return OpResult("collective", v["fact_id"], row, v["platform"], op, link, shape, compared, measured, predicted)


def predict_kernel(v: dict, row: int = 0) -> OpResult:
    """A usable kernel_ops row's prediction (raises :class:`_Bad` for a value it cannot use)."""
    from sim.spec.efficiency import kernel_fraction
    from sim.spec.platform import nearest_fraction

    p = _platform_of(v)
    kernel, dtype, k = v["kernel"], v.get("dtype", ""), p.kernels
    if kernel not in KERNELS:
        raise _Bad("kernel", f"{kernel!r} has no per-kernel model (predicted: {', '.join(KERNELS)})")
    measured = _num(v, "measured_s")
    flops = _num(v, "flops", required=False, positive=False) or 0.0
    nbytes = _num(v, "hbm_bytes", required=False, positive=False) or 0.0
    dims = [v.get(c, "") for c in ("m", "n", "k")]
    shape = "x".join(dims) + (f" g{v['groups']}" if v.get("groups", "") not in ("", "1") else "") if all(dims) else f"{flops / 1e9:.3g} GF {nbytes / 1e6:.3g} MB"
    shape += f" {dtype}" if dtype else ""
    hbm = p.hbm_bw_tb_s * 1e12
    if kernel == "kernel_floor":
        return OpResult("kernel", v["fact_id"], row, v["platform"], kernel, v.get("generation", ""), shape + " [floor]", "time", measured, k.kernel_floor_s)
    if not flops and not nbytes:
        raise _Bad("flops", "neither flops nor hbm_bytes: no work to predict")
    if kernel in ("gemm", "grouped_gemm"):
        if dtype not in ("bf16", "fp8", "fp4"):
            raise _Bad("dtype", f"{dtype!r} is not bf16, fp8 or fp4")
        peak = getattr(p, f"{dtype}_dense_tflops", None)
        if not peak:
            raise _Bad("dtype", f"platform {p.name} has no {dtype} peak ({dtype}_dense_tflops)")
        grouped = kernel == "grouped_gemm"  # the grouped kernels' own fractions where the platform lists them
        gemm = (nearest_fraction(k.grouped_gemm_fraction, dtype) if grouped else None) or kernel_fraction(k.gemm_fraction, dtype, "gemm_fraction", p.name)
        read = (nearest_fraction(k.grouped_weight_read_fraction, dtype) if grouped else None) or kernel_fraction(
            k.weight_read_fraction, dtype, "weight_read_fraction", p.name)
        rate, bandwidth = peak * 1e12 * gemm, hbm * read
    else:
        fraction = k.gemm_fraction.get("bf16", k.attention_fraction) if kernel == "hbm_stream" else k.attention_fraction
        rate, bandwidth = p.bf16_dense_tflops * 1e12 * fraction, hbm * k.stream_fraction
    compute_s, memory_s = flops / rate, nbytes / bandwidth
    shape += " [mem]" if memory_s > compute_s else " [cmp]"
    return OpResult("kernel", v["fact_id"], row, v["platform"], kernel, v.get("generation", ""), shape, "time", measured, k.kernel_floor_s + max(compute_s, memory_s))


def file_kind(header: list[str], path) -> str:
    """``collective`` or ``kernel`` from a file's header, or an :class:`InputError`."""
    for kind, columns in COLUMNS.items():
        if all(c in header for c in columns):
            return kind
    near = max(COLUMNS, key=lambda kind: len(set(COLUMNS[kind]) & set(header)))
    missing = [c for c in COLUMNS[near] if c not in header]
    if len(set(COLUMNS[near]) & set(header)) >= len(COLUMNS[near]) // 2:
        raise InputError(f"operations file {path} looks like a {FILE_NAMES[near]} file but has no column {', '.join(missing)}; add it to the header (see data/reference/README.md)")
    raise InputError(
        f"operations file {path} has neither the header of a collective_ops file nor of a kernel_ops file; give a file with "
        "the columns of data/reference/collective_ops.csv or kernel_ops.csv"
    )


def predict_file(path: str | Path) -> tuple[str, list[OpResult | RowProblem]]:
    """The file's kind and every row of it: a prediction, a row not predictable, or a row problem."""
    reader = csv.DictReader(io.StringIO(read_text(path, "operations file"), newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    kind = file_kind(header, path)
    reader.fieldnames = header
    out: list[OpResult | RowProblem] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(reader, start=2):
        v = {key: (value or "").strip() for key, value in raw.items() if key is not None}
        if not any(v.values()):
            continue
        fact_id = v.get("fact_id") or f"row {number}"
        if fact_id in seen:
            raise InputError(f"operations file {path}: fact id {fact_id!r} is on rows {seen[fact_id]} and {number}; give every row its own fact_id")
        seen[fact_id] = number
        v["fact_id"] = fact_id
        if v["usable"] not in ("0", "1"):
            out.append(RowProblem(fact_id, number, "usable", f"{v['usable']!r} is neither 0 nor 1"))
            continue
        operation = v.get("operation" if kind == "collective" else "kernel", "")
        group = v.get("link" if kind == "collective" else "generation", "")
        if v["usable"] == "0":
            out.append(OpResult(kind, fact_id, number, v["platform"], operation, group, reason=short_reason(v.get("note", ""))))
            continue
        try:
            out.append((predict_collective if kind == "collective" else predict_kernel)(v, number))
        except _Bad as bad:
            out.append(RowProblem(fact_id, number, *bad.args))
        except ConfigError as err:
            out.append(RowProblem(fact_id, number, "platform", " ".join(str(err).split())))
        except Exception as err:  # never let one row stop the others: report it
            out.append(RowProblem(fact_id, number, "-", f"prediction failed: {type(err).__name__}: {err}"))
    if not out:
        raise InputError(f"operations file {path} has a header but no rows; add one row per measured operation")
    return kind, out


def _stats(errors: list[float]) -> dict:
    a = [abs(100 * e) for e in errors]
    return {"n": len(a), "median_abs_pct_err": statistics.median(a) if a else None, "max_abs_pct_err": max(a) if a else None}


def summary(kind: str, rows: list[OpResult | RowProblem]) -> dict:
    """Counts, median and largest |error| (%), overall and per link kind / generation."""
    ok = [r for r in rows if isinstance(r, OpResult) and r.ok]
    groups = sorted({r.group for r in ok})
    return {
        "kind": kind, "n_rows": len(rows), "n_predicted": len(ok),
        "n_not_predictable": sum(isinstance(r, OpResult) and not r.ok for r in rows),
        "n_not_read": sum(isinstance(r, RowProblem) for r in rows), **_stats([r.error for r in ok]),
        "by_" + ("link" if kind == "collective" else "generation"): {g: _stats([r.error for r in ok if r.group == g]) for g in groups},
    }


def _value(r: OpResult, x: float) -> str:
    return f"{x:.4g} GB/s" if r.compared.startswith("bw") else f"{x * 1e6:.4g} us"


def table(kind: str, rows: list[OpResult | RowProblem]) -> str:
    head = f"{'fact':<6} {'platform':<12} {'operation' if kind == 'collective' else 'kernel':<18} {'shape':<36} {'compared':<14} {'measured':>13} {'predicted':>13} {'error':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        if isinstance(r, RowProblem):
            lines.append(f"{r.case_id:<6} not read: row {r.row}, column {r.column}: {r.reason}")
        elif not r.ok:
            lines.append(f"{r.fact_id:<6} {r.platform or '-':<12} {r.operation:<18} not predictable: {r.reason}")
        else:
            lines.append(
                f"{r.fact_id:<6} {r.platform:<12} {r.operation + (' ' + r.group if kind == 'collective' else ''):<18} {r.shape:<36.36} "
                f"{r.compared:<14} {_value(r, r.measured):>13} {_value(r, r.predicted):>13} {100 * r.error:>+7.1f}%"
            )
    return "\n".join(lines)


def summary_line(path, s: dict) -> str:
    line = f"{Path(path).name}: {s['n_predicted']} of {s['n_rows']} rows predicted ({s['n_not_predictable']} not predictable, {s['n_not_read']} not read)"
    if not s["n_predicted"]:
        return line
    by = s.get("by_link") or s.get("by_generation") or {}
    parts = ", ".join(f"{g or '-'} {x['median_abs_pct_err']:.1f}% (n={x['n']})" for g, x in by.items())
    return f"{line}; median |error| {s['median_abs_pct_err']:.1f}%, max {s['max_abs_pct_err']:.1f}%; medians by {'link' if 'by_link' in s else 'generation'}: {parts}"


def to_json(path, kind: str, rows: list[OpResult | RowProblem]) -> dict:
    items = []
    for r in rows:
        if isinstance(r, RowProblem):
            items.append({"fact_id": r.case_id, "row": r.row, "status": "not_read", "column": r.column, "reason": r.reason})
        else:
            items.append({
                "fact_id": r.fact_id, "row": r.row, "status": "ok" if r.ok else "not_predictable", "platform": r.platform,
                "operation": r.operation, "group": r.group, "shape": r.shape, "compared": r.compared,
                "unit": "GB/s" if r.compared.startswith("bw") else "s", "measured": r.measured, "predicted": r.predicted,
                "pct_err": 100 * r.error if r.ok else None, "reason": r.reason,
            })
    return {"path": str(path), "kind": kind, "rows": items, "summary": summary(kind, rows)}


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m sim.validate --ops", description="Predict measured collectives and kernels with the network layer and the per-kernel model alone.")
    parser.add_argument("--ops", action="store_true", help="operation-level validation (this command)")
    parser.add_argument("file", nargs="?", type=Path, help="a collective_ops or kernel_ops file (default: both shipped files)")
    parser.add_argument("--json", type=Path, help="write the tables and summaries to this JSON file")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    paths = [args.file] if args.file else list(SHIPPED)
    if args.json:
        check_output_file(args.json, "--json")
    files = [(path, *predict_file(path)) for path in paths]
    files.sort(key=lambda f: f[1] != "collective")  # collectives, then kernels
    for path, kind, rows in files:
        print(f"{path}\n{table(kind, rows)}\n")
    for path, kind, rows in files:
        print(summary_line(path, summary(kind, rows)))
    if args.json:
        atomic_write_text(args.json, json.dumps({"files": [to_json(*f) for f in files]}, indent=2, allow_nan=False) + "\n")
    return 0 if any(isinstance(r, OpResult) and r.ok for _, _, rows in files for r in rows) else 1


if __name__ == "__main__":
    sys.exit(run_command(main))
