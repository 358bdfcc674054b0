"""Drawing helpers of a study's figures, reusable by any figure of the project (the report's, a
planning frontier, a cost waterfall): readable labels for configurations, the Pareto frontier, box
plots with a confidence interval, latency CDFs from quantiles, and tornado bars.

They draw on Matplotlib axes handed to them and choose no style of their own: call them inside
:func:`sim.run.figures.style` and save with :func:`sim.run.figures.save`.
"""

from __future__ import annotations

import math

import numpy as np

from sim.run.figures import MORE_COLOURS, PALETTE

#: Ten colours told apart (black is kept for reference lines), and marker shapes for scatter plots.
SERIES_COLOURS = (*PALETTE[:-1], *MORE_COLOURS)
MARKERS = ("o", "s", "D", "^", "v", "P", "X")

#: How configuration keys read in a label.
PRETTY = {"fp4": "FP4", "fp8": "FP8", "bf16": "BF16", "mxfp4": "MXFP4"}


def pretty_value(key: str, value) -> str:
    """A configuration value as a reader outside the team reads it, e.g. ``GB200 NVL72``, ``FP8``, ``2 racks``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{key.split('.')[-1]} unset"
    if key == "platform":
        return str(value).upper().replace("_", " ")
    if key in ("racks", "fleet.racks"):
        count = int(float(value))
        return f"{count} rack" + ("s" if count != 1 else "")
    if isinstance(value, str):
        return PRETTY.get(value, value.replace("_", " "))
    number = float(value)
    text = f"{number:g}"
    return f"{key.split('.')[-1].replace('_', ' ')} {text}"


def varying(df, keys: list[str]) -> list[str]:
    """The keys whose values differ between the rows (the ones worth naming in a label)."""
    return [k for k in keys if k in df and df[k].astype(str).nunique(dropna=False) > 1]


def labels(df, keys: list[str]) -> list[str]:
    """One label per row, naming the values of ``keys`` that vary (the row's platform if none varies)."""
    shown = varying(df, keys) or [k for k in ("platform",) if k in df]
    if {"racks", "fleet.racks"} <= set(shown):
        shown.remove("fleet.racks")
    return [" · ".join(pretty_value(k, row[k]) for k in shown) for _, row in df.iterrows()]


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both ``x`` and ``y`` (higher is better), by ``x``."""
    order = np.argsort(-np.asarray(x, dtype=float), kind="stable")
    front, best_y = [], -math.inf
    for i in order:
        if y[i] > best_y:
            front.append(i)
            best_y = y[i]
    return np.array(sorted(front, key=lambda i: x[i]), dtype=int)


def nearby_labels(x: np.ndarray, y: np.ndarray, names: list[str], within: float = 0.02) -> list[tuple[tuple[float, float], list[str]]]:
    """The points' labels, those of points closer than ``within`` of the axes' spans joined under one
    (a label per cluster, at its first point), so that coinciding points do not print over each other."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    span_x = float(np.ptp(x)) or 1.0
    span_y = float(np.ptp(y)) or 1.0
    clusters: list[tuple[tuple[float, float], list[str]]] = []
    for xi, yi, name in zip(x, y, names):
        for (cx, cy), members in clusters:
            if abs(xi - cx) <= within * span_x and abs(yi - cy) <= within * span_y:
                members.append(name)
                break
        else:
            clusters.append(((xi, yi), [name]))
    return clusters


def colour(i: int) -> str:
    """Series ``i``'s colour: ten distinct ones, then again (with another line style, :func:`line_style`)."""
    return SERIES_COLOURS[i % len(SERIES_COLOURS)]


def marker(i: int) -> str:
    return MARKERS[i % len(MARKERS)]


def merged_label(names: list[str]) -> str:
    """The labels of points drawn at one place as one label: each `` · ``-separated part listing its values, e.g.
    ``B200 / GB200 NVL72 · FP4 · 1 rack / 2 racks`` when the points are every combination of those; else one per line."""
    parts = [name.split(" · ") for name in names]
    if len(names) > 1 and len({len(p) for p in parts}) == 1:
        values = [list(dict.fromkeys(column)) for column in zip(*parts)]
        if math.prod(len(v) for v in values) == len(set(names)):
            return " · ".join(" / ".join(v) for v in values)
    return "\n".join(names)


def box_with_interval(ax, position: float, values: np.ndarray, mean: float, low: float, high: float, colour_: str) -> None:
    """A horizontal box of ``values`` at ``position`` (quartiles; whiskers to the extreme values, each value a
    tick), the mean as a diamond and its 95 % interval as a bar (a single value: the diamond and the interval)."""
    finite = values[np.isfinite(values)]
    if finite.size > 1:
        import matplotlib

        horizontal = {"orientation": "horizontal"} if tuple(map(int, matplotlib.__version__.split(".")[:2])) >= (3, 10) else {"vert": False}
        ax.boxplot([finite], positions=[position], **horizontal, widths=0.55, whis=(0, 100), showfliers=False,
                   patch_artist=True, boxprops={"facecolor": colour_, "alpha": 0.25, "edgecolor": colour_},
                   medianprops={"color": colour_}, whiskerprops={"color": colour_}, capprops={"color": colour_})
        ax.plot(finite, np.full(finite.size, position), ls="none", marker="|", ms=9, color=colour_, alpha=0.7)
    if math.isfinite(low) and math.isfinite(high):
        ax.errorbar([mean], [position], xerr=[[mean - low], [high - mean]], fmt="none", ecolor="black", capsize=4, lw=1.4)
    ax.plot([mean], [position], marker="D", color="black", ms=5, zorder=3)


def line_style(i: int) -> str:
    """Solid for the first ten series, then dashed, then dotted: tells apart more series than colours."""
    return ("-", "--", ":")[(i // len(SERIES_COLOURS)) % 3]


def cdf_from_quantiles(ax, percentiles: np.ndarray, values: np.ndarray, label: str, i: int, scale: float = 1.0) -> None:
    """Series ``i``'s latency CDF drawn from its quantiles (fraction of requests at or below each value)."""
    ax.plot(np.asarray(values) * scale, np.asarray(percentiles) / 100, label=label, color=colour(i), ls=line_style(i),
            drawstyle="steps-post")


def tornado(ax, names: list[str], low: np.ndarray, high: np.ndarray, base: float, shares: np.ndarray) -> None:
    """Horizontal bars from ``base`` (the output with every input at its median) to the output with each input
    at its lower (``low``) and upper (``high``) quartile, largest swing on top, each labelled with its share."""
    swing = np.abs(np.asarray(high) - np.asarray(low))
    order = np.argsort(swing, kind="stable")
    for row, i in enumerate(order):
        ax.barh(row, low[i] - base, left=base, color=PALETTE[0], alpha=0.85, height=0.6)
        ax.barh(row, high[i] - base, left=base, color=PALETTE[1], alpha=0.85, height=0.6)
        ax.text(max(low[i], high[i]), row, f"  {shares[i]:.0%}", va="center", fontsize=8)
    ax.axvline(base, color="black", lw=1)
    ax.set_yticks(range(len(order)), [names[i].replace("_", " ") for i in order])
