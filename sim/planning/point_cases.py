"""Measured frontier points as benchmark cases, for the calibration to fit on.

A frontier point gives no layout, so the calibration cannot simulate it as it is. A reference search
(:func:`sim.planning.frontier_points.predict_points`, with the calibration in force) says which simulated
layout and concurrency serve the point's interactivity; the point becomes a :class:`BenchmarkCase` of that
layout at that concurrency, measured at the point's throughput per GPU and interactivity. Fitting both
errors of such a case pulls the simulated frontier through the point: at the reference, the case's
interactivity is the point's and its throughput error the frontier's. Points the search cannot read
(unreachable, not simulated) are left out, and said so.
"""

from __future__ import annotations

import re
from pathlib import Path

from sim.fidelity.cases import BenchmarkCase
from sim.planning.frontier_points import FrontierPoint, PointPrediction, predict_points, read_points
from sim.planning.runs import Runner

_ONE = r"tp(\d+)(?: ep(\d+))?( dp_attn)?"


def layout_fields(name: str, gpus: int) -> dict:
    """The case fields of a layout's name (:attr:`sim.planning.layouts.Layout.name`)."""
    spec = "mtp" if name.endswith(" +mtp") else "none"
    name = name.removesuffix(" +mtp")
    disagg = re.fullmatch(rf"(\d+)P {_ONE} / (\d+)D {_ONE}", name)
    if disagg:
        pw, ptp, pep, pdp, dw, dtp, dep, ddp = disagg.groups()
        return dict(disagg=True, prefill_workers=int(pw), prefill_tp=int(ptp), prefill_ep=int(pep or 0), prefill_dp_attn=bool(pdp),
                    decode_workers=int(dw), decode_tp=int(dtp), decode_ep=int(dep or 0), decode_dp_attn=bool(ddp), spec_decode=spec)
    agg = re.fullmatch(rf"(?:(\d+)x )?{_ONE}", name)
    if not agg:
        raise ValueError(f"not a layout name: {name!r}")
    workers, tp, ep, dp = agg.groups()
    return dict(disagg=False, decode_workers=int(workers or 1), decode_tp=int(tp), decode_ep=int(ep or 0), decode_dp_attn=bool(dp), spec_decode=spec)


def as_case(prediction: PointPrediction) -> BenchmarkCase:
    p: FrontierPoint = prediction.point
    return BenchmarkCase(
        case_id=p.point_id, row=p.row, platform=p.platform, model=p.model, precision=p.precision, isl=p.isl, osl=p.osl,
        concurrency=int(prediction.concurrency), tput_per_gpu=p.tput_per_gpu, interactivity=p.interactivity,
        **layout_fields(prediction.layout, prediction.gpus),
    )


def points_as_cases(path: Path, calibration: str, processes: int | None = None, log=print) -> list[BenchmarkCase]:
    """Every readable point of ``path`` that the reference search reads off its frontier, as a case."""
    points = [r for r in read_points(path) if isinstance(r, FrontierPoint)]
    with Runner(processes) as runner:
        predictions = predict_points(points, runner, calibration)
    cases = [as_case(q) for q in predictions if q.status == "ok" and q.layout]
    left = [q.point.point_id for q in predictions if not (q.status == "ok" and q.layout)]
    if left:
        log(f"  {len(left)} points left out of the fit (the reference search cannot read them): {', '.join(left)}")
    return cases
