"""The accuracy report: ``python -m sim.validate --accuracy DIR [--calibration NAME]``.

Everything the simulator is checked against, in one place, with the calibration in force:

* the benchmark cases (``data/reference/benchmark_cases.csv``), each simulated at its measured layout;
* the measured frontier points (``frontier_points.csv``), each read off the simulated frontier of the
  benchmark's search space (:mod:`sim.planning.frontier_points`);
* the collective and kernel microbenchmarks, predicted by the network layer and the per-kernel model alone
  (:mod:`sim.fidelity.operations`).

Written to DIR: ``accuracy.csv`` (one row per case and point: platform, model, measured and predicted throughput
per GPU and interactivity, their errors), ``accuracy.md`` (median and worst |error| per platform and model, per
data set, and the operation-level medians) and ``predicted_vs_measured.png`` / ``.pdf`` (log-log, one colour per
platform: on the diagonal is right, the dashed lines are +-25 %). Cross-validated errors come from
``python -m sim.calibrate ... --cross-validate``, which refits; this report does not.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.run import figures
from sim.fidelity import operations
from sim.fidelity.cases import BenchmarkCase, predict_all, read_cases
from sim.base.files import atomic_write_text
from sim.planning.frontier_points import FrontierPoint, predict_points, read_points
from sim.planning.runs import Runner

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "reference"


@dataclass(frozen=True)
class Checked:
    """One measured deployment (a case or a frontier point) and what the simulator predicts for it."""

    source: str  # case | frontier point
    id: str
    platform: str
    model: str
    tput_meas: float
    tput_pred: float
    inter_meas: float
    inter_pred: float

    @property
    def tput_err(self) -> float:
        return self.tput_pred / self.tput_meas - 1

    @property
    def inter_err(self) -> float:
        return self.inter_pred / self.inter_meas - 1


def check_all(calibration: str, processes: int | None, cases_path: Path, points_path: Path) -> list[Checked]:
    """Every case and point the simulator can predict (the others are left out of the report, as the
    validation commands list them)."""
    cases = [c for c in read_cases(cases_path) if isinstance(c, BenchmarkCase)]
    out = [
        Checked("case", p.case.case_id, p.case.platform, p.case.model, p.case.tput_per_gpu, p.tput_per_gpu, p.case.interactivity, p.interactivity)
        for p in predict_all(cases, (f"calibration={calibration}",), processes) if p.ok
    ]
    points = [p for p in read_points(points_path) if isinstance(p, FrontierPoint)]
    with Runner(processes) as runner:
        for q in predict_points(points, runner, calibration):
            if q.status == "ok":
                p = q.point
                out.append(Checked("frontier point", p.point_id, p.platform, p.model, p.tput_per_gpu, q.tput_per_gpu, p.interactivity, p.interactivity))
    return out


def _stats(errors: list[float]) -> str:
    a = 100 * np.abs(errors)
    return f"{np.median(a):.1f} % | {a.max():.1f} %"


def markdown(checked: list[Checked], ops: dict[str, dict]) -> str:
    """Median and worst |error| per platform and model for each data set, then the operation-level medians."""
    lines = ["# Accuracy", ""]
    for source in ("case", "frontier point"):
        rows = [c for c in checked if c.source == source]
        if not rows:
            continue
        lines += [f"## {source.capitalize()}s: {len(rows)}, median |error| throughput/GPU {_stats([c.tput_err for c in rows])} (median | worst)", ""]
        inter = source == "case"  # a frontier point is read at its measured interactivity
        lines += ["| platform | model | n | throughput/GPU median | worst |" + (" interactivity median | worst |" if inter else ""),
                  "|---|---|---|---|---|" + ("---|---|" if inter else "")]
        for key in sorted({(c.platform, c.model) for c in rows}):
            group = [c for c in rows if (c.platform, c.model) == key]
            cells = _stats([c.tput_err for c in group]).split(" | ")
            line = f"| {key[0]} | {key[1]} | {len(group)} | {cells[0]} | {cells[1]} |"
            if inter:
                line += " {} | {} |".format(*_stats([c.inter_err for c in group]).split(" | "))
            lines.append(line)
        lines.append("")
    if ops:
        lines += ["## Operations (no simulation)", "", "| file | predicted | median |error| | worst |", "|---|---|---|---|"]
        for name, s in ops.items():
            if s.get("n_predicted"):
                lines.append(f"| {name} | {s['n_predicted']} of {s['n_rows']} | {s['median_abs_pct_err']:.1f} % | {s['max_abs_pct_err']:.1f} % |")
        lines.append("")
    return "\n".join(lines)


def to_csv(checked: list[Checked]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["source", "id", "platform", "model", "tput_per_gpu_meas", "tput_per_gpu_pred", "tput_pct_err",
                "interactivity_meas", "interactivity_pred", "interactivity_pct_err"])
    for c in checked:
        w.writerow([c.source, c.id, c.platform, c.model, f"{c.tput_meas:.6g}", f"{c.tput_pred:.6g}", f"{100 * c.tput_err:.2f}",
                    f"{c.inter_meas:.6g}", f"{c.inter_pred:.6g}", f"{100 * c.inter_err:.2f}"])
    return out.getvalue()


def figure(checked: list[Checked], stem: Path, calibration: str) -> list[Path]:
    """Predicted against measured throughput per GPU, log-log, a colour per platform, a marker per data set."""
    plt = figures.pyplot()
    with figures.style():
        fig, ax = plt.subplots(figsize=(6.4, 5.6))
        platforms = sorted({c.platform for c in checked})
        colours = dict(zip(platforms, figures.PALETTE + figures.MORE_COLOURS))
        for source, marker in (("case", "s"), ("frontier point", "o")):
            for platform in platforms:
                group = [c for c in checked if c.source == source and c.platform == platform]
                if group:
                    ax.scatter([c.tput_meas for c in group], [c.tput_pred for c in group], marker=marker, s=22, alpha=0.8,
                               color=colours[platform], label=f"{platform} ({source}s)")
        values = [v for c in checked for v in (c.tput_meas, c.tput_pred)]
        lo, hi = min(values) / 1.5, max(values) * 1.5
        ax.plot([lo, hi], [lo, hi], color="black", lw=1)
        for f in (0.75, 1.25):
            ax.plot([lo, hi], [f * lo, f * hi], color="black", lw=0.8, ls="--")
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), aspect="equal",
               xlabel="measured throughput per GPU (tokens/s, input + output)", ylabel="simulated throughput per GPU (tokens/s)",
               title=f"Simulated against measured (calibration: {calibration})")
        ax.legend(loc="upper left", fontsize=7.5, ncol=1)
        ax.text(0.98, 0.02, "solid: exact; dashed: +-25 %", transform=ax.transAxes, ha="right", va="bottom", fontsize=8)
        return figures.save(fig, stem)


def write_report(out_dir: Path, calibration: str = "default", processes: int | None = None,
                 cases_path: Path = REFERENCE / "benchmark_cases.csv", points_path: Path = REFERENCE / "frontier_points.csv") -> list[Path]:
    """Run every check and write the report's files into ``out_dir``; return their paths."""
    checked = check_all(calibration, processes, cases_path, points_path)
    ops = {}
    for path in operations.SHIPPED:
        kind, rows = operations.predict_file(path)
        ops[path.name] = operations.summary(kind, rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "accuracy.csv", to_csv(checked))
    atomic_write_text(out_dir / "accuracy.md", markdown(checked, ops))
    return [out_dir / "accuracy.csv", out_dir / "accuracy.md", *figure(checked, out_dir / "predicted_vs_measured", calibration)]


def main(argv: list[str] | None = None) -> int:
    from sim.base.errors import CommandParser, positive_number
    from sim.fidelity.cases import check_calibration
    from sim.base.files import check_output_file

    parser = CommandParser(prog="python -m sim.validate --accuracy", description="Write the accuracy report.")
    parser.add_argument("--accuracy", type=Path, required=True, metavar="DIR", help="folder to write the report into")
    parser.add_argument("--calibration", default="default", help="calibration in conf/calibration/ (default: default)")
    parser.add_argument("--processes", type=positive_number(int), default=None, help="parallel simulations (default: all cores)")
    args = parser.parse_args(argv)
    check_calibration(args.calibration)  # both before any simulation
    # a folder that exists, or a new one in a folder that does: writable, and nothing created before the checks pass
    check_output_file(args.accuracy / "accuracy.md" if args.accuracy.is_dir() else args.accuracy, "--accuracy")
    for path in write_report(args.accuracy, args.calibration, args.processes):
        print(f"wrote {path}")
    return 0
