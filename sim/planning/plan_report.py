"""A capacity plan's answer: one row per candidate fleet, the ranking, the printed table and the figure.

A candidate that meets the SLO is ranked by its cost per hour, then by its cost per SLO-met million
tokens (the hourly cost over the tokens of the requests that met the SLO; with a daily profile, the
day's cost over the day's SLO-met tokens). Power is the facility power drawn (simulated) and the
provisioned all-in power of its GPUs; tokens per MW count all delivered tokens per MW of each. Each cost
carries the performance model's expected error on that platform (``model_error_pct``, from the
calibration: its generation's median error in sample, or, marked ``uncal.``, what a generation no
measurement covers should expect, cross-validated): read a fleet within it of another as a tie.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sim.run import figures
from sim.planning.capacity import Sizing
from sim.planning.frontier_plot import compact


@dataclass(frozen=True)
class Row:
    """One candidate and its sized fleet (or why it has none)."""

    label: str
    sizing: Sizing | None
    status: str = "met"  # met | out of reach | failed | no candidate
    reason: str = ""
    units: int | None = None
    workers: int | None = None
    gpus: int | None = None
    racks: int | None = None
    cost_usd_per_hour: float | None = None
    cost_usd_per_slo_mtok: float | None = None
    power_kw_drawn: float | None = None
    power_kw_provisioned: float | None = None
    tok_s_per_mw_provisioned: float | None = None
    tok_s_per_mw_drawn: float | None = None
    attainment: float | None = None  # the worst seed's share of requests within both limits
    ttft_p99: float | None = None
    tpot_p99: float | None = None
    model_error_pct: float | None = None  # the performance model's expected error on this platform (see the module)
    model_calibrated: bool = True
    rank: int | None = None

    @classmethod
    def of(cls, s: Sizing, day: dict | None = None) -> "Row":
        c = s.candidate
        if s.units is None:
            closest = s.closest()
            worst = closest.worst if closest else {}
            status = "out of reach" if s.error == "out of reach" else "failed"
            reason = s.error if status == "failed" else (
                f"up to {s.limit} units ({s.limit * c.layout.gpus} GPUs) tried; the closest reaches "
                f"{100 * worst.get('slo_attainment', 0):.1f} % within the limits" if worst else "no fleet could be simulated")
            return cls(c.label, s, status, reason, units=closest.units if closest else None,
                       attainment=worst.get("slo_attainment"), ttft_p99=worst.get("ttft_s_p99"), tpot_p99=worst.get("tpot_s_p99"))
        evaluation = s.evaluations[s.units]
        m = evaluation.outcomes[0].metrics
        worst = evaluation.worst
        layout = c.layout.scaled(s.units)
        gpus = layout.gpus
        cost_h = m["cost_usd_per_hour"]
        slo_mtok = cost_h / (m["goodput_tok_s"] * 3600 / 1e6) if m["goodput_tok_s"] > 0 else math.inf
        if day:
            slo_mtok = cost_h * 24 / (day["slo_met_tokens_per_day"] / 1e6) if day["slo_met_tokens_per_day"] > 0 else math.inf
        return cls(
            c.label, s, "met", "", s.units, layout.workers + layout.prefill_workers, gpus,
            -(-gpus // c.base.platform.gpus_per_rack), cost_h, slo_mtok,
            day["energy_kwh_per_day"] / 24 if day else m["power_kw"], m["provisioned_power_kw"],
            m["tok_s_per_mw_provisioned"], m["tok_s_per_mw_drawn"], worst["slo_attainment"], worst["ttft_s_p99"], worst["tpot_s_p99"],
            m.get("model_error_pct"), bool(m.get("model_calibrated", True)),
        )

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("sizing")
        s = self.sizing
        extra = {}
        if s is not None:
            c = s.candidate
            extra = {"platform": c.base.platform.name, "precision": c.base.precision.name, "layout": c.layout.name,
                     "batch_per_worker": c.batch_per_worker, "gpus_per_unit": c.layout.gpus}
        order = ("rank", "label", "platform", "precision", "layout", "batch_per_worker", "gpus_per_unit", "status")
        merged = {**d, **extra}
        return {k: merged.get(k) for k in order} | {k: v for k, v in merged.items() if k not in order}


def rank(rows: list[Row]) -> list[Row]:
    """Fleets meeting the SLO by cost per hour, then cost per SLO-met Mtok; then the others."""
    met = sorted((r for r in rows if r.status == "met"), key=lambda r: (r.cost_usd_per_hour, r.cost_usd_per_slo_mtok))
    others = [r for r in rows if r.status != "met"]
    from dataclasses import replace

    return [replace(r, rank=i + 1) for i, r in enumerate(met)] + others


def error_text(r: Row) -> str:
    """``+-18 %``, or ``+-31 % uncal.`` for a platform whose generation no measurement calibrated ('' if unknown)."""
    if r.model_error_pct is None:
        return ""
    return f"+-{r.model_error_pct:.0f} %" + ("" if r.model_calibrated else " uncal.")


def table(rows: list[Row]) -> str:
    head = (f"{'#':>2} {'candidate':<52} {'GPUs':>5} {'racks':>5} {'$/hour':>9} {'$/SLO Mtok':>10} {'model err':>10} {'kW drawn':>9} "
            f"{'tok/s/MW prov':>13} {'met':>6} {'p99 TTFT':>8} {'p99 TPOT':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.status != "met":
            lines.append(f"{'-':>2} {r.label:<52} {r.status}: {r.reason}")
            continue
        lines.append(
            f"{r.rank:>2} {r.label:<52} {r.gpus:>5} {r.racks:>5} {r.cost_usd_per_hour:>9,.0f} {r.cost_usd_per_slo_mtok:>10.3f} "
            f"{error_text(r):>10} "
            f"{r.power_kw_drawn:>9,.0f} {r.tok_s_per_mw_provisioned:>13,.0f} {100 * r.attainment:>5.1f}% {r.ttft_p99:>7.2f}s "
            f"{1000 * r.tpot_p99:>6.0f}ms"
        )
    return "\n".join(lines)


def plot_plan(rows: list[Row], stem: Path, title: str) -> list[Path]:
    """The best fleet of each platform and precision: cost per hour, cost per SLO-met Mtok, tokens per MW."""
    from matplotlib.ticker import NullFormatter

    best: dict[str, Row] = {}
    for r in rows:
        if r.status == "met":
            key = " ".join(r.label.split()[:2])
            best.setdefault(key, r)  # rows are ranked: the first is the cheapest
    chosen = list(best.values())[::-1]  # cheapest on top
    with figures.style():
        plt = figures.pyplot()
        fig, axes = plt.subplots(1, 3, figsize=(13, 0.45 * max(4, len(chosen)) + 1.6), sharey=True)
        names = [f"{' '.join(r.label.split()[:2])}" for r in chosen]
        y = np.arange(len(chosen))
        panels = (
            ("cost_usd_per_hour", "fleet cost ($ per hour)"),
            ("cost_usd_per_slo_mtok", "cost per SLO-met million tokens ($)"),
            ("tok_s_per_mw_provisioned", "tokens/s per provisioned MW"),
        )
        for k, (ax, (key, label)) in enumerate(zip(axes, panels)):
            values = np.array([getattr(r, key) for r in chosen], dtype=float)
            wide = len(values) and values.max() > 10 * values.min() > 0
            base = values.min() / 2 if wide else 0.0  # a log axis when the fleets differ tenfold or more
            ax.barh(y, values - base, left=base, color=figures.PALETTE[0])
            ax.set_xlabel(label + (" (log scale)" if wide else ""))
            ax.grid(axis="y", visible=False)
            if wide:
                ax.set_xscale("log")
                ax.set_xlim(base, values.max() * (40 if k == 0 else 1.5))
                ax.xaxis.set_major_formatter(compact)
                ax.xaxis.set_minor_formatter(NullFormatter())
            else:
                ax.xaxis.set_major_formatter(compact)
                ax.set_xlim(0, values.max() * (1.9 if k == 0 else 1.1) if len(values) else 1)
        axes[0].set_yticks(y, names)
        for yi, r in zip(y, chosen):
            layout = " ".join(r.label.split()[2:]).replace(" / ", " /\n ")  # prefill / decode pools on two lines
            axes[0].annotate(f" {r.gpus} GPUs, {layout}", (r.cost_usd_per_hour, yi), va="center", fontsize=7.5)
        fig.suptitle(title)
        return figures.save(fig, stem)
