"""``python -m sim.frontier`` and ``python -m sim.validate`` on frontier points, end to end at toy size."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sim.planning.frontier import POINT_COLUMNS, expand, main as frontier_main
from sim.planning.frontier_points import is_frontier_points_file, read_points
from sim.fidelity.cases import RowProblem
from sim.validate import main as validate_main

TOY = ["model=llama3_70b", "precision=fp8", "workload.input_tokens=128", "workload.output_tokens=256"]
POINTS = Path(__file__).resolve().parents[2] / "data" / "reference" / "frontier_points.csv"
CASES = POINTS.with_name("benchmark_cases.csv")


def test_frontier_writes_every_point_its_layouts_and_figures_and_overlays_curves(tmp_path, capsys):
    out = tmp_path / "out"
    code = frontier_main(["platform=h100,b200", *TOY, "--max-concurrency", "64", "--processes", "1", "--out", str(out), "--at", "30"])
    assert code == 0
    rows = list(csv.DictReader((out / "frontier.csv").open()))
    assert tuple(rows[0]) == POINT_COLUMNS
    assert {r["curve"] for r in rows} == {"h100 FP8 128/256", "b200 FP8 128/256"}
    assert all(r["on_frontier"] in ("0", "1") for r in rows) and any(r["on_frontier"] == "1" for r in rows)
    layouts = list(csv.DictReader((out / "layouts.csv").open()))
    assert any(r["status"] == "removed" and "does not fit" in r["reason"] for r in layouts)  # tp=1 on H100
    for stem in ("frontier_tput", "frontier_cost", "frontier_tokens_per_mw"):
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.pdf").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "b200 FP8 128/256" in printed and "x first" in printed


def test_a_curve_the_platform_cannot_run_is_skipped_with_the_reason(tmp_path, capsys):
    code = frontier_main(["platform=h100", "precision=fp4", "model=llama3_70b", "--processes", "1", "--out", str(tmp_path)])
    assert code == 2
    assert "no FP4 tensor cores" in capsys.readouterr().err


def test_comma_lists_expand_to_every_combination():
    assert expand(["platform=a,b", "precision=x,y", "seed=1"]) == [
        ["seed=1", "platform=a", "precision=x"], ["seed=1", "platform=a", "precision=y"],
        ["seed=1", "platform=b", "precision=x"], ["seed=1", "platform=b", "precision=y"],
    ]


def test_frontier_points_are_validated_by_the_validate_command(tmp_path):
    path = tmp_path / "points.csv"
    with POINTS.open() as f:
        header = next(csv.reader(f))
    rows = [
        {"point_id": "reachable", "platform": "h100", "model": "llama3_70b", "precision": "fp8", "interactivity": "30", "tput_per_gpu": "1000"},
        {"point_id": "too-fast", "platform": "h100", "model": "llama3_70b", "precision": "fp8", "interactivity": "5000", "tput_per_gpu": "10"},
        {"point_id": "mtp-only", "platform": "h100", "model": "llama3_70b", "precision": "fp8", "spec_decode": "mtp", "interactivity": "30", "tput_per_gpu": "10"},
        {"point_id": "bad-platform", "platform": "tpu", "model": "llama3_70b", "precision": "fp8", "interactivity": "30", "tput_per_gpu": "1"},
    ]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        for row in rows:
            writer.writerow({"isl": "128", "osl": "256", "spec_decode": "any", "disagg": "any", "kind": "frontier", **row})
    assert is_frontier_points_file(path) and not is_frontier_points_file(CASES)
    assert isinstance(read_points(path)[3], RowProblem) and read_points(path)[3].column == "platform"
    out = tmp_path / "out.json"
    assert validate_main([str(path), "--json", str(out), "--processes", "1"]) == 0
    result = json.loads(out.read_text())
    cases = {c["case_id"]: c for c in result["cases"]}
    ok = cases["reachable"]
    assert ok["status"] == "ok" and ok["tput_per_gpu_pred"] > 0 and ok["interactivity_pred"] == 30 and ok["space"] == "default"
    assert ok["layout"].startswith("tp") and ok["concurrency"] >= 1
    fast = cases["too-fast"]
    assert fast["status"] == "unreachable" and 30 < fast["fastest_interactivity_pred"] < 5000 and fast["tput_per_gpu_pred"] is None
    assert cases["mtp-only"]["status"] == "not_simulated" and "spec_decode=mtp" in cases["mtp-only"]["reason"]
    assert cases["bad-platform"]["status"] == "not_read"
    assert result["summary"]["n_points"] == 3 and result["summary"]["n_unreachable"] == 1


@pytest.mark.parametrize("argv", [[str(CASES), "--processes", "1"]])
def test_validate_still_runs_benchmark_cases(argv, capsys, monkeypatch):
    import sim.fidelity.validate as cases_validate

    seen = []
    monkeypatch.setattr(cases_validate, "main", lambda args: seen.append(args) or 0)
    assert validate_main(argv) == 0 and seen == [argv]


def test_bad_paths_are_refused_in_one_line_before_any_simulation(tmp_path, capsys):
    from sim.base.errors import run_command
    from sim.planning.plan import main as plan_main
    from sim.planning.waterfall import main as waterfall_main

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert run_command(frontier_main, ["platform=h100", "--out", str(blocker / "sub")]) == 2
    assert "--out" in capsys.readouterr().err
    assert plan_main(["platform=h100", "--rate", "5", "--out", str(blocker / "sub")]) == 2
    assert waterfall_main(["platform=h100", "platform=b200", "--out", str(blocker / "sub")]) == 2
    assert capsys.readouterr().err.count("choose another --out") == 2
    empty = tmp_path / "points.csv"
    empty.write_text("point_id,platform,model,precision,isl,osl,spec_decode,disagg,interactivity,tput_per_gpu\n")
    assert run_command(validate_main, [str(empty), "--json", str(blocker / "x.json")]) == 2
    assert "--json" in capsys.readouterr().err


def test_a_curve_carries_the_models_expected_error_for_its_band():
    """The band is the calibration's median error on the curve's platform (None when the calibration does not say),
    and says when no measurement covers it."""
    from sim.planning.frontier_plot import Curve
    from sim.planning.search import Point

    def curve(*metrics):
        return Curve("c", None, [Point(None, 1, m) for m in metrics])

    assert curve({"model_error_pct": 18.0}, {"model_error_pct": 18.0}).model_error() == (0.18, True)
    assert curve({"model_error_pct": 30.0, "model_calibrated": False}).model_error() == (0.30, False)
    assert curve({"model_error_pct": None}, {}).model_error() is None
