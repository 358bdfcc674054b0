"""The one figure style the project ships, and how figures are saved: PNG and PDF, byte-identical on rerun.

Every figure of the simulator (a run's latency and cost panels, a study's report, a frontier, a waterfall,
an experiment) is drawn inside :func:`style` and written by :func:`save`. The style is a fixed set of
Matplotlib parameters (no user ``matplotlibrc`` leaks in): a colour-blind-safe palette (Okabe and Ito),
light grids, readable sizes. ``save`` strips the metadata that changes from run to run (software version,
creation date) and writes each file atomically, so the same data gives the same bytes.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from sim.base.files import atomic_path

#: Okabe & Ito's colour-blind-safe palette (black last: it is kept for reference lines).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
#: Three more for figures with up to ten series (Paul Tol's muted wine, green and olive), after the palette's seven.
MORE_COLOURS = ("#882255", "#117733", "#999933")

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "figure.constrained_layout.use": True,
    "font.family": "DejaVu Sans",  # shipped with Matplotlib: the same glyphs on every machine
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 9.5,
    "axes.grid": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "grid.alpha": 0.3,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "svg.hashsalt": "token-factory",
    "pdf.fonttype": 42,
}

#: Per format, the metadata Matplotlib would otherwise fill with what changes between runs.
_STABLE_METADATA = {
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
    "svg": {"Creator": None, "Date": None},
}


def pyplot():
    """Matplotlib's pyplot on the non-interactive Agg backend (no screen needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def style() -> Iterator[None]:
    """Draw the figures made inside this block in the shipped style (Matplotlib's defaults underneath)."""
    import matplotlib
    from cycler import cycler

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(STYLE)
        matplotlib.rcParams["axes.prop_cycle"] = cycler(color=list(PALETTE))
        yield


def save(fig, stem: str | Path, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Write ``fig`` as ``stem.png``, ``stem.pdf`` (or the ``formats`` given), atomically and without
    run-dependent metadata; close it and return the paths written."""
    stem = Path(stem)
    paths = []
    try:
        for fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, metadata=_STABLE_METADATA.get(fmt, {}))
            paths.append(path)
    finally:
        pyplot().close(fig)
    return paths
