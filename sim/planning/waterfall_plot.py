"""The waterfall figure: from A's cost per million tokens to B's, one bar per factor (its Shapley share),
with a whisker spanning the factor's share over every order of switching."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from sim import figures


def plot_waterfall(w, stem: Path) -> list[Path]:
    """``w``: a :class:`sim.planning.waterfall.Waterfall`."""
    from sim.planning.waterfall import FACTORS

    n = len(w.factors)
    start, end = w.cost[frozenset()], w.cost[frozenset(range(n))]
    labels = ["A"] + [textwrap.fill(" + ".join(FACTORS[f] for f in g.split("+")), 16) for g in w.factors] + ["B"]
    with figures.style():
        plt = figures.pyplot()
        fig, ax = plt.subplots(figsize=(max(7.5, 1.25 * (n + 2)), 4.6))
        x = np.arange(n + 2)
        ax.bar(x[0], start, color=figures.PALETTE[7], width=0.6)
        ax.bar(x[-1], end, color=figures.PALETTE[7], width=0.6)
        level = start
        for i, (phi, (lo, hi)) in enumerate(zip(w.shapley, w.ranges)):
            colour = figures.PALETTE[2] if phi < 0 else figures.PALETTE[3]
            ax.bar(x[i + 1], phi, bottom=level, color=colour, width=0.6)
            # the whisker: where this step would end along the order that gives it its least and most
            ax.plot([x[i + 1]] * 2, [level + lo, level + hi], color="black", linewidth=1)
            ax.annotate(f"{phi:+.3f}", (x[i + 1], level + phi), ha="center", va="top" if phi < 0 else "bottom", fontsize=8,
                        xytext=(0, -3 if phi < 0 else 3), textcoords="offset points")
            level += phi
        for xi, v in ((x[0], start), (x[-1], end)):
            ax.annotate(f"${v:.3f}", (xi, v), ha="center", va="bottom", fontsize=8.5, xytext=(0, 3), textcoords="offset points")
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_ylabel("cost per million tokens ($, input + output)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"Why B's token costs {'less' if end < start else 'more'} at {w.interactivity:g} tokens/s per user\n"
                     f"A: {w.a.label}   B: {w.b.label}", fontsize=9.5)
        ax.text(0.99, 0.98, "bars: order-averaged (Shapley) share\nwhiskers: where the step would end,\nover all orders of switching",
                transform=ax.transAxes, ha="right", va="top", fontsize=8)
        return figures.save(fig, stem)
