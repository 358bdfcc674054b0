"""The waterfall figure: from A's cost per million tokens to B's on a logarithmic axis, one step per factor
(its order-averaged multiplier), with a whisker spanning where the step would end over every order of
switching the factors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from sim.run import figures


def plot_waterfall(w, factor_labels: list[str], stem: Path) -> list[Path]:
    """``w``: a :class:`sim.planning.waterfall.Waterfall`; ``factor_labels``: what each of its factors is called
    (the caller's words, so this module imports nothing of the waterfall's)."""
    n = len(w.factors)
    start, end = w.cost[frozenset()], w.cost[frozenset(range(n))]
    labels = ["A"] + [textwrap.fill(label, 16) for label in factor_labels] + ["B"]
    m = w.multiplicative
    with figures.style():
        plt = figures.pyplot()
        fig, ax = plt.subplots(figsize=(max(7.5, 1.25 * (n + 2)), 4.8))
        x = np.arange(n + 2)
        levels = start * np.cumprod([1.0, *m.shapley[:-1]])  # where each step starts
        lowest = min(min(w.cost.values()), min(lv * lo for lv, (lo, _) in zip(levels, m.ranges))) / 3  # whiskers too
        ax.bar(x[0], start - lowest, bottom=lowest, color=figures.PALETTE[7], width=0.6)
        ax.bar(x[-1], end - lowest, bottom=lowest, color=figures.PALETTE[7], width=0.6)
        level, highest = start, max(start, end)
        for i, (factor, (lo, hi)) in enumerate(zip(m.shapley, m.ranges)):
            highest = max(highest, level * factor, level * hi)
            colour = figures.PALETTE[2] if factor < 1 else figures.PALETTE[3]
            ax.bar(x[i + 1], level * factor - level, bottom=level, color=colour, width=0.6)
            ax.plot([x[i + 1]] * 2, [level * lo, level * hi], color="black", linewidth=1)
            ax.annotate(f"x{factor:.3g}", (x[i + 1], max(level, level * factor)), ha="center", va="bottom", fontsize=8,
                        xytext=(0, 3), textcoords="offset points")
            level *= factor
        for xi, v in ((x[0], start), (x[-1], end)):
            ax.annotate(f"${v:.3g}", (xi, v), ha="center", va="bottom", fontsize=8.5, xytext=(0, 3), textcoords="offset points")
        ax.set_yscale("log")
        ax.set_ylim(lowest, highest * 3)
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_ylabel("cost per million tokens ($, input + output; log scale)")
        ax.set_title(f"Why B's token costs {end / start:.3g}x A's at {w.interactivity:.3g} tokens/s per user\n"
                     f"A: {w.a.label}\nB: {w.b.label}", fontsize=9.5)
        ax.text(0.99, 0.98, "bars: order-averaged (Shapley) multiplier\nwhiskers: where the step would end,\nover all orders of switching",
                transform=ax.transAxes, ha="right", va="top", fontsize=8)
        return figures.save(fig, stem)
