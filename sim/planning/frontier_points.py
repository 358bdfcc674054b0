"""Validation against measured frontier points: ``python -m sim.validate FRONTIER_POINTS.csv [--json OUT]``.

A frontier point (a row in the schema of ``data/reference/frontier_points.csv``) is the best throughput per
GPU the public benchmark measured at one interactivity, over the layouts it tried, for a platform, model,
precision and lengths, with speculative decoding and disaggregation allowed (``any``: either). Its layout
is not given, so the simulator searches the frontier over the benchmark's own search space
(``data/reference/benchmark_search_spaces.csv``, where it lists that combination; the default space
otherwise) and reads its throughput at the measured interactivity from the frontier of the layouts the
point allows. Points sharing a platform, model, precision and lengths share one search.

The JSON keeps the schema of the benchmark cases (``case_id``, ``tput_per_gpu_meas``, ``tput_per_gpu_pred``,
``interactivity_meas``, ``interactivity_pred`` = the interactivity it was read at) and adds the layout and
concurrency of the frontier point that serves that interactivity. A point faster than every simulated
layout is ``unreachable``, with the fastest interactivity the simulator reaches.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.base.config import ConfigError
from sim.base.errors import CommandParser, InputError, positive_number
from sim.fidelity.cases import RowProblem, check_calibration, config_names, serving_precision
from sim.base.files import atomic_write_text, check_output_file, read_text
from sim.planning.frontier import benchmark_config, check_precision
from sim.planning.runs import Runner
from sim.planning.search import SearchResult, search
from sim.planning.space import default_space, read_space

COLUMNS = ("point_id", "platform", "model", "precision", "isl", "osl", "spec_decode", "disagg", "interactivity", "tput_per_gpu")
#: The public benchmark's search spaces, shipped with the project.
SPACES = Path(__file__).resolve().parents[2] / "data" / "reference" / "benchmark_search_spaces.csv"


def is_frontier_points_file(path: str | Path) -> bool:
    """Does the file's header have the frontier points' columns (and not a benchmark case's layout)?"""
    try:
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError):
        return False
    return set(COLUMNS) <= set(header) and "decode_tp" not in header


@dataclass(frozen=True)
class FrontierPoint:
    """One measured frontier point."""

    point_id: str
    row: int
    platform: str
    model: str
    precision: str  # as measured (fp4 for gpt-oss on Hopper is served as mxfp4)
    isl: int
    osl: int
    spec_decode: str  # mtp | none | any
    disagg: str  # 0 | 1 | any
    interactivity: float
    tput_per_gpu: float
    kind: str = ""

    @property
    def group(self) -> tuple:
        """Points that share one frontier search."""
        return (self.platform, self.model, serving_precision(self.platform, self.precision), self.precision, self.isl, self.osl)


def read_points(path: str | Path) -> list[FrontierPoint | RowProblem]:
    """Every row of a frontier-points file, as a point or as the problem that keeps it from being one; an
    :class:`InputError` for a file that is not one (unreadable, empty, columns missing)."""
    known = {k: config_names(k) for k in ("platform", "model", "precision")}
    reader = csv.DictReader(io.StringIO(read_text(path, "frontier points file"), newline=""))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"frontier points file {path} has no column {', '.join(missing)}; see data/reference/README.md for its columns")
    out: list[FrontierPoint | RowProblem] = []
    for number, row in enumerate(reader, start=2):
        value = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if any(value.values()):
            out.append(_parse(value, number, value.get("point_id") or f"row {number}", known))
    return out


def _parse(value: dict, row: int, pid: str, known: dict) -> FrontierPoint | RowProblem:
    for column, names in known.items():
        if value[column] not in names:
            return RowProblem(pid, row, column, f"unknown {column} {value[column]!r}; known: {', '.join(names)}")
    for column, allowed in (("spec_decode", ("mtp", "none", "any")), ("disagg", ("0", "1", "any"))):
        if value[column] not in allowed:
            return RowProblem(pid, row, column, f"{value[column]!r} is not one of {', '.join(allowed)}")
    numbers = {}
    for column in ("isl", "osl", "interactivity", "tput_per_gpu"):
        try:
            numbers[column] = float(value[column])
        except ValueError:
            return RowProblem(pid, row, column, f"{value[column]!r} is not a number" if value[column] else "no value")
        if not (math.isfinite(numbers[column]) and numbers[column] > 0) or (column in ("isl", "osl") and numbers[column] != int(numbers[column])):
            return RowProblem(pid, row, column, f"{value[column]!r} is not a positive {'integer' if column in ('isl', 'osl') else 'number'}")
    return FrontierPoint(
        pid, row, value["platform"], value["model"], value["precision"], int(numbers["isl"]), int(numbers["osl"]),
        value["spec_decode"], value["disagg"], numbers["interactivity"], numbers["tput_per_gpu"], value.get("kind", ""),
    )


@dataclass(frozen=True)
class PointPrediction:
    """The simulated frontier read at a measured point's interactivity."""

    point: FrontierPoint
    status: str  # ok | unreachable | not_simulated
    tput_per_gpu: float | None = None
    fastest_interactivity: float | None = None  # of the layouts the point allows
    layout: str = ""
    concurrency: int | None = None
    gpus: int | None = None
    space: str = ""
    reason: str = ""

    @property
    def tput_err(self) -> float | None:
        return self.tput_per_gpu / self.point.tput_per_gpu - 1 if self.status == "ok" else None


def search_group(points: list[FrontierPoint], runner: Runner, calibration: str) -> tuple[SearchResult | None, str, str]:
    """One frontier search for points sharing platform, model, precision and lengths: (result, space, reason)."""
    p = points[0]
    try:
        base = benchmark_config(
            f"platform={p.platform}", f"model={p.model}", f"precision={serving_precision(p.platform, p.precision)}",
            f"workload.input_tokens={p.isl}", f"workload.output_tokens={p.osl}", f"calibration={calibration}",
        )
        check_precision(base)
        layouts = read_space(SPACES, p.platform, p.model, p.precision, p.isl, p.osl, base.model.n_routed_experts > 0)
        space = "benchmark" if layouts else "default"
        return search(base, layouts or default_space(base), runner), space, ""
    except ConfigError as err:
        return None, "", str(err)


def predict_points(points: list[FrontierPoint], runner: Runner, calibration: str = "default") -> list[PointPrediction]:
    """Every point's prediction, in the points' order (one search per group)."""
    groups: dict[tuple, list[FrontierPoint]] = {}
    for p in points:
        groups.setdefault(p.group, []).append(p)
    found: dict[str, PointPrediction] = {}
    for members in groups.values():
        result, space, reason = search_group(members, runner, calibration)
        for p in members:
            found[p.point_id + f"@{p.row}"] = _read(p, result, space) if result else PointPrediction(p, "not_simulated", reason=reason)
    return [found[p.point_id + f"@{p.row}"] for p in points]


def _read(p: FrontierPoint, result: SearchResult, space: str) -> PointPrediction:
    frontier, chosen = result.frontier(p.spec_decode, p.disagg)
    if frontier.empty:
        return PointPrediction(p, "not_simulated", space=space, reason=f"no simulated layout with spec_decode={p.spec_decode}, disagg={p.disagg}")
    serving = frontier.serving_point(p.interactivity)
    if serving is None:
        return PointPrediction(p, "unreachable", fastest_interactivity=frontier.max_interactivity, space=space,
                               reason=f"no simulated layout serves {p.interactivity:g} tok/s/user; the fastest reaches {frontier.max_interactivity:.1f}")
    at = chosen[serving]
    return PointPrediction(p, "ok", frontier.tput_at(p.interactivity), frontier.max_interactivity, at.layout.name,
                           at.concurrency, at.layout.gpus, space)


def summary(predictions: list[PointPrediction], rows: int) -> dict:
    ok = [q for q in predictions if q.status == "ok"]
    errs = np.abs([100 * q.tput_err for q in ok])
    return {
        "n_rows": rows, "n_points": len(predictions), "n_simulated": len(ok),
        "n_unreachable": sum(q.status == "unreachable" for q in predictions),
        "n_not_simulated": sum(q.status == "not_simulated" for q in predictions),
        "median_abs_pct_err_tput": float(np.median(errs)) if ok else None,
        "max_abs_pct_err_tput": float(errs.max()) if ok else None,
        "median_pct_err_tput": float(np.median([100 * q.tput_err for q in ok])) if ok else None,
    }


def to_json(predictions: list[PointPrediction], problems: list[RowProblem], calibration: str) -> dict:
    cases = []
    for q in predictions:
        p = q.point
        cases.append({
            "case_id": p.point_id, "status": q.status, "reason": q.reason or None, "kind": p.kind or None,
            "platform": p.platform, "model": p.model, "precision": p.precision, "isl": p.isl, "osl": p.osl,
            "spec_decode": p.spec_decode, "disagg": p.disagg,
            "tput_per_gpu_meas": p.tput_per_gpu, "tput_per_gpu_pred": q.tput_per_gpu,
            "tput_pct_err": 100 * q.tput_err if q.status == "ok" else None,
            "interactivity_meas": p.interactivity, "interactivity_pred": p.interactivity if q.status == "ok" else None,
            "fastest_interactivity_pred": q.fastest_interactivity, "layout": q.layout or None,
            "concurrency": q.concurrency, "gpus": q.gpus, "space": q.space or None,
        })
    for r in problems:
        cases.append({"case_id": r.case_id, "status": "not_read", "reason": str(r), "row": r.row, "column": r.column,
                      "tput_per_gpu_meas": None, "tput_per_gpu_pred": None, "interactivity_meas": None, "interactivity_pred": None})
    return {"calibration": calibration, "kind": "frontier_points", "cases": cases,
            "summary": summary(predictions, len(predictions) + len(problems))}


def table(predictions: list[PointPrediction], problems: list[RowProblem]) -> str:
    head = f"{'point':<40} {'tok/s/user':>10} {'tput meas':>10} {'pred':>9} {'err':>8}  layout (concurrency) of the frontier point"
    lines = [head, "-" * len(head)]
    rows = sorted([(q.point.row, q) for q in predictions] + [(r.row, r) for r in problems], key=lambda x: x[0])
    for _, item in rows:
        if isinstance(item, RowProblem):
            lines.append(f"{item.case_id:<40} not read: {item}")
            continue
        p = item.point
        if item.status == "ok":
            lines.append(f"{p.point_id:<40} {p.interactivity:>10g} {p.tput_per_gpu:>10,.0f} {item.tput_per_gpu:>9,.0f} "
                         f"{100 * item.tput_err:>+7.1f}%  {item.layout} ({item.concurrency})")
        else:
            lines.append(f"{p.point_id:<40} {p.interactivity:>10g} {p.tput_per_gpu:>10,.0f} {item.status}: {item.reason}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m sim.validate", description="Compare the simulated frontier with measured frontier points.")
    parser.add_argument("points", type=Path, help="frontier points (the schema of data/reference/frontier_points.csv)")
    parser.add_argument("--json", type=Path, help="write the table and summary to this JSON file")
    parser.add_argument("--calibration", default="default", help="calibration in conf/calibration/ (default: default)")
    parser.add_argument("--processes", type=positive_number(int), default=None, help="parallel simulations (default: all cores)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = read_points(args.points)  # every check before any simulation
    check_calibration(args.calibration)
    if args.json:
        check_output_file(args.json, "--json")
    points = [r for r in rows if isinstance(r, FrontierPoint)]
    problems = [r for r in rows if isinstance(r, RowProblem)]
    with Runner(args.processes) as runner:
        predictions = predict_points(points, runner, args.calibration)
    print(table(predictions, problems))
    s = summary(predictions, len(rows))
    print(f"\n{s['n_simulated']} of {len(rows)} points read off the simulated frontier ({s['n_unreachable']} unreachable, "
          f"{s['n_not_simulated']} not simulated, {len(problems)} not read) in {time.perf_counter() - start:.0f} s", end="")
    if s["n_simulated"]:
        print(f"; throughput/GPU median |error| {s['median_abs_pct_err_tput']:.1f}% (median signed {s['median_pct_err_tput']:+.1f}%), "
              f"max {s['max_abs_pct_err_tput']:.1f}%")
    else:
        print()
    if args.json:
        atomic_write_text(args.json, json.dumps(to_json(predictions, problems, args.calibration), indent=2, allow_nan=False) + "\n")
    return 0 if s["n_simulated"] else 1
