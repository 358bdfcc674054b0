"""The search space of a frontier: which layouts a deployment of a model on a platform would try.

:func:`default_space` is the documented rule, after what serving deployments of each kind use:

* **Aggregated, one node**: one worker of ``tp`` = 1, 2, 4 or 8 GPUs (at most the scale-up domain); a
  mixture-of-experts model with its experts tensor-parallel (``ep=1``) or expert-parallel over the worker
  (``ep=tp``), the latter with or without attention data parallelism.
* **Disaggregated**, for models of 200B parameters or more (as the public benchmark serves DeepSeek-R1):
  prefill workers of the smallest power-of-two size that holds the model (expert-parallel with
  ``dp_attn`` for a mixture of experts), and either 1, 2 or 4 tensor-parallel decode workers of up to 8
  GPUs behind one prefill worker (low latency), or one wide expert-parallel ``dp_attn`` decode worker of
  8 to 64 GPUs (16 on 8-GPU platforms, across two nodes) behind 1 to 6 prefill workers (throughput); at
  most one rack-scale domain (72 GPUs) or eight 8-GPU nodes in all.
* Speculative decoding by MTP on and off, for models that ship an MTP module (``model.mtp_modules``).

:func:`read_space` reads the public benchmark's own spaces (the schema of
``data/reference/benchmark_search_spaces.csv``): its layouts and the concurrencies it measured.
:func:`feasible` removes, before any simulation, the layouts the simulator refuses (a model that does
not fit, heads that do not split), and keeps the reason for each.
"""

from __future__ import annotations

import ast
import csv
import io
from dataclasses import dataclass, replace
from pathlib import Path

from sim.base.config import ConfigError, SimConfig
from sim.base.errors import InputError
from sim.base.files import read_text
from sim.planning.layouts import Layout

#: Models at least this large (total parameters) are also tried disaggregated.
DISAGG_MIN_PARAMS_B = 200.0
#: The most GPUs a layout of the default space uses: one rack-scale domain, or eight 8-GPU nodes.
RACK_SCALE_GPUS, NODES_GPUS = 72, 64
SPACE_COLUMNS = (
    "platform", "model", "precision", "isl", "osl", "multinode", "disagg", "spec_decode", "tp", "ep", "dp_attn",
    "prefill_workers", "prefill_tp", "prefill_ep", "prefill_dp_attn", "decode_workers", "decode_tp", "decode_ep",
    "decode_dp_attn", "concurrency",
)


def _fits(base: SimConfig, layout: Layout) -> bool:
    from sim.run.simulation import build

    try:
        build(layout.config(base, 1))
    except ConfigError:
        return False
    return True


def _smallest_fitting(base: SimConfig, moe: bool, domain: int) -> int | None:
    """The smallest power-of-two worker that holds the model (expert-parallel with dp_attn for MoE)."""
    tp = 1
    while tp <= max(16, domain):
        if _fits(base, Layout(tp=tp, ep=tp, dp_attn=moe and tp > 1)) or (moe and _fits(base, Layout(tp=tp, ep=tp))):
            return tp
        tp *= 2
    return None


def default_space(base: SimConfig, spec: str = "any", disagg: str = "any") -> list[Layout]:
    """The documented default layouts for ``base``'s platform and model (``spec``: any, mtp or none;
    ``disagg``: any, 0 or 1)."""
    platform, model = base.platform, base.model
    moe = model.n_routed_experts > 0
    specs = [s for s in ("none", "mtp") if spec in ("any", s) and (s == "none" or model.mtp_modules > 0)]
    domain = platform.topology.scaleup.domain_gpus
    layouts: list[Layout] = []
    if disagg in ("any", "0"):
        tp = 1
        while tp <= min(8, domain):
            variants = [Layout(tp=tp, ep=1), Layout(tp=tp, ep=tp), Layout(tp=tp, ep=tp, dp_attn=True)] if moe else [Layout(tp=tp)]
            layouts += [v for v in variants if not (v.dp_attn and tp == 1) and not (moe and tp == 1 and v.ep == tp)]
            tp *= 2
    if disagg in ("any", "1") and model.total_params_b >= DISAGG_MIN_PARAMS_B:
        layouts += _disaggregated(base, moe, domain)
    return [replace(layout, spec=s) for layout in layouts for s in specs]


def _disaggregated(base: SimConfig, moe: bool, domain: int) -> list[Layout]:
    prefill_tp = _smallest_fitting(base, moe, domain)
    if prefill_tp is None:
        return []
    budget = RACK_SCALE_GPUS if domain >= RACK_SCALE_GPUS else NODES_GPUS
    prefill = dict(prefill_tp=prefill_tp, prefill_ep=prefill_tp if moe else 0, prefill_dp_attn=moe and prefill_tp > 1)
    out = []
    tp = prefill_tp
    while tp <= 8:  # low latency: tensor-parallel decode workers behind one prefill worker
        out += [Layout(tp=tp, ep=tp if moe else 0, workers=d, prefill_workers=1, **prefill) for d in (1, 2, 4)]
        tp *= 2
    if moe:  # throughput: one wide expert-parallel decode worker behind several prefill workers
        widths = [w for w in (8, 16, 32, 48, 64) if w <= (domain if domain >= RACK_SCALE_GPUS else 16) and w >= prefill_tp]
        out += [Layout(tp=w, ep=w, dp_attn=True, workers=1, prefill_workers=p, **prefill) for w in widths for p in (1, 2, 3, 4, 6)]
    return [layout for layout in out if layout.gpus <= budget]


def _int(text: str, default: int = 0) -> int:
    return int(float(text)) if text.strip() else default


def read_space(path: str | Path, platform: str, model: str, precision: str, isl: int, osl: int, moe: bool) -> list[Layout]:
    """The layouts and concurrencies a benchmark's space file lists for one platform, model, precision
    and lengths (an expert width left empty means experts tensor-parallel: ``ep=1``). Rows naming the
    same layout are merged. An empty list if the file has none for them."""
    reader = csv.DictReader(io.StringIO(read_text(path, "search-space file"), newline=""))
    missing = [c for c in SPACE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"{path}: not a search-space file, it has no column(s) {', '.join(missing)} (see data/reference/README.md)")
    try:
        rows = [r for r in reader if (r["platform"], r["model"], r["precision"], _int(r["isl"]), _int(r["osl"])) == (platform, model, precision, isl, osl)]
    except ValueError as err:
        raise InputError(f"{path}: a row's isl or osl is not a number ({err}); fix it") from None
    def ep_of(text: str) -> int:
        return _int(text, 1) if moe else 0

    merged: dict[tuple, Layout] = {}
    for r in rows:
        try:
            listed = [int(c) for c in ast.literal_eval(r["concurrency"])]
            concurrencies = listed if r["multinode"] == "1" else _doubling(listed[0], listed[-1])
            if r["disagg"] == "1":
                layout = Layout(
                    tp=_int(r["decode_tp"]), ep=ep_of(r["decode_ep"]), dp_attn=r["decode_dp_attn"] == "1",
                    workers=_int(r["decode_workers"]), prefill_workers=_int(r["prefill_workers"]), prefill_tp=_int(r["prefill_tp"]),
                    prefill_ep=ep_of(r["prefill_ep"]), prefill_dp_attn=r["prefill_dp_attn"] == "1", spec=r["spec_decode"],
                )
            else:
                layout = Layout(tp=_int(r["tp"]), ep=ep_of(r["ep"]), dp_attn=r["dp_attn"] == "1", spec=r["spec_decode"])
        except (ValueError, SyntaxError, TypeError, IndexError) as err:
            raise InputError(f"{path}: a row for {platform}/{model}/{precision} cannot be read ({err}); fix its numbers") from None
        old = merged.get(layout.key())
        union = sorted(set(concurrencies) | set(old.concurrencies if old else ()))
        merged[layout.key()] = replace(layout, concurrencies=tuple(union))
    return list(merged.values())


def _doubling(start: int, end: int) -> list[int]:
    out, c = [], max(1, start)
    while c <= end:
        out.append(c)
        c *= 2
    return out or [max(1, start)]


@dataclass(frozen=True)
class Removed:
    """A layout taken out of the search before simulating, and why."""

    layout: Layout
    reason: str


def feasible(base: SimConfig, layouts: list[Layout]) -> tuple[list[Layout], list[Removed]]:
    """The layouts the simulator accepts for ``base``'s model, platform and lengths, and the others with
    the constraint that removed each (memory, head split, layout rules). Duplicates are dropped."""
    from sim.run.simulation import build

    kept, removed, seen = [], [], set()
    for layout in layouts:
        if layout.key() in seen:
            continue
        seen.add(layout.key())
        try:
            build(layout.config(base, max(layout.concurrencies or (1,))))
        except ConfigError as err:
            removed.append(Removed(layout, str(err)))
            continue
        kept.append(layout)
    return kept, removed


def nothing_feasible_message(what: str, removed: list[Removed]) -> str:
    """One message naming every removed layout and the constraint that removed it."""
    lines = [f"no layout of the search space can serve {what}:"]
    lines += [f"  {r.layout.name}: {r.reason}" for r in removed] or ["  (the search space is empty)"]
    return "\n".join(lines)
