"""Figures of throughput–interactivity frontiers: one or several curves overlaid, in the shipped style.

Three figures, each against interactivity (tokens per second per user, the public benchmark's: 1 / mean
TPOT): throughput per GPU, cost per million tokens, tokens per second per provisioned MW. Every
simulated point is a faint dot; each curve's upper Pareto frontier is a line through the monotone
interpolation (:mod:`sim.planning.pareto`), with its frontier points marked. Cost and tokens per MW are
read from the interpolated throughput (a price per GPU-hour over it; it times tokens per provisioned MW
per GPU), as the benchmark's dashboard does, so the three frontiers are one curve in three units. A shaded
band around each line is the performance model's expected error there (the calibration's median |error| of
throughput on the platform's generation, or the cross-validated one where no measurement covers it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.run import figures
from sim.planning.pareto import Frontier
from sim.study import plots
from sim.planning.search import Point


@dataclass(frozen=True)
class Curve:
    """One labelled frontier: its points (the frontier's ``index`` refers to them)."""

    label: str
    frontier: Frontier
    points: list[Point]

    def usd_per_gpu_hour(self) -> float:
        """The price per GPU-hour behind the points' cost (the median, should power enter it)."""
        return float(np.median([p.metrics["cost_usd_per_hour"] / p.metrics["gpus"] for p in self.points]))

    def tok_s_per_mw_per_tok_s_gpu(self) -> float:
        """Tokens/s per provisioned MW for one token/s per GPU: 1000 / the all-in kW per GPU."""
        return float(np.median([p.metrics["tok_s_per_mw_provisioned"] / p.tput_per_gpu for p in self.points]))

    def cost_at(self, interactivity: float) -> float | None:
        tput = self.frontier.tput_at(interactivity)
        return self.usd_per_gpu_hour() / (tput * 3600 / 1e6) if tput else None

    def tok_s_per_mw_at(self, interactivity: float) -> float | None:
        tput = self.frontier.tput_at(interactivity)
        return tput * self.tok_s_per_mw_per_tok_s_gpu() if tput else None

    def model_error(self) -> tuple[float, bool] | None:
        """The performance model's expected error on this curve's platform and model (a fraction: the calibration's
        median |error| of throughput) and whether a measurement covers them; None if the calibration does not say."""
        errors = [p.metrics.get("model_error_pct") for p in self.points]
        errors = [e for e in errors if e is not None]
        if not errors:
            return None
        return float(np.median(errors)) / 100, all(p.metrics.get("model_calibrated", True) for p in self.points)


METRICS = (
    # file name after the prefix, y label, the point's metric
    ("tput", "throughput per GPU (tokens/s, input + output)", "tput_per_gpu_tok_s"),
    ("cost", "cost per million tokens ($, input + output)", "cost_usd_per_mtok"),
    ("tokens_per_mw", "tokens/s per provisioned MW (all-in power)", "tok_s_per_mw_provisioned"),
)


def plot_frontiers(curves: list[Curve], out_dir: Path, title: str, prefix: str = "frontier") -> list[Path]:
    """The three figures of these curves in ``out_dir`` (``PREFIX_tput``, ``_cost``, ``_tokens_per_mw``, PNG
    and PDF); the paths written."""
    paths: list[Path] = []
    with figures.style():
        for name, ylabel, key in METRICS:
            paths += _one(curves, out_dir / f"{prefix}_{name}", ylabel, key, title)
    return paths


def _line(curve: Curve, key: str) -> tuple[np.ndarray, np.ndarray]:
    f = curve.frontier
    if len(f.xs) == 1:
        xs = np.array(f.xs)
    else:
        xs = np.unique(np.concatenate([np.linspace(f.xs[0], f.xs[-1], 400), f.xs]))
    tput = np.array([f.tput_at(x) for x in xs])
    if key == "cost_usd_per_mtok":
        return xs, curve.usd_per_gpu_hour() / (tput * 3600 / 1e6)
    if key == "tok_s_per_mw_provisioned":
        return xs, tput * curve.tok_s_per_mw_per_tok_s_gpu()
    return xs, tput


def compact(value: float, _pos=None) -> str:
    """Axis numbers a reader takes in at a glance: 950, 12k, 1.5M."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _one(curves: list[Curve], stem: Path, ylabel: str, key: str, title: str) -> list[Path]:
    plt = figures.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    peaks = []
    for i, curve in enumerate(curves):
        colour = plots.colour(i)
        values = np.array([p.metrics[key] for p in curve.points], dtype=float)
        xs = np.array([p.interactivity for p in curve.points])
        ax.scatter(xs, values, s=7, color=colour, alpha=0.22, linewidths=0)
        if curve.frontier.empty:
            continue
        lx, ly = _line(curve, key)
        error = curve.model_error()
        label = curve.label
        if error:  # throughput (1 +- e); cost, its inverse, and tokens per MW, proportional to it, follow
            share, measured = error
            low, high = (1 / (1 + share), 1 / max(1 - share, 0.05)) if key == "cost_usd_per_mtok" else (max(1 - share, 0.0), 1 + share)
            ax.fill_between(lx, ly * low, ly * high, color=colour, alpha=0.12, linewidth=0)
            label += f" (model error +-{100 * share:.0f} %" + ("" if measured else ", uncalibrated") + ")"
        ax.plot(lx, ly, color=colour, label=label)
        on = [curve.points[j] for j in curve.frontier.index]
        ax.scatter([p.interactivity for p in on], [p.metrics[key] for p in on], s=16, color=colour, zorder=3)
        peaks.append(float(np.nanmax(ly)))
    spread = max(peaks) / min(peaks) if peaks and min(peaks) > 0 else 1.0
    if key == "cost_usd_per_mtok" or spread > 5:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(compact)
    ax.set_xlim(left=0)
    ax.set_xlabel("interactivity (tokens/s per user, 1 / mean time per output token)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    banded = any(c.model_error() for c in curves if not c.frontier.empty)
    ax.legend(title="line: Pareto frontier (best layout at each interactivity)\ndots: every layout and concurrency simulated"
              + ("\nband: +- the model's median error on measurements" if banded else ""), loc="best")
    return figures.save(fig, stem)
