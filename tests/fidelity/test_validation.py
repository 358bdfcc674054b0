"""Benchmark mode, reading benchmark cases, and the accuracy of the calibrated model on them."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from sim.base.errors import InputError
from sim.fidelity.cases import RowProblem, case_overrides, predict, read_cases
from sim.fidelity.validate import main as validate_main
from sim.run.simulation import Simulation, build
from tests.conftest import make_config

CASES = Path(__file__).resolve().parents[2] / "data" / "reference" / "benchmark_cases.csv"


def test_steady_state_window_obeys_littles_law_in_a_closed_loop():
    """In steady state a closed loop of C clients has C requests in the system: rate x mean time = C."""
    cfg = make_config(
        "platform=b200", "model=llama3_70b", "precision=fp8", "worker.tp=8", "fleet.workers=2", "workload=benchmark",
        "workload.concurrency=48", "workload.num_requests=480", "workload.warmup_requests=48", "output.figure=false",
    )
    sim = Simulation(build(cfg))
    result = sim.run()
    m, r = result.metrics, result.requests
    (start_s, end_s), _ = sim.measurement_window_s()
    assert 0 < start_s < end_s == sim.last_arrival_s < m["sim_time_s"]
    in_window = (r["finish_s"] > start_s) & (r["finish_s"] <= end_s)
    assert m["requests_completed"] == in_window.sum() < 480
    rate = in_window.sum() / (end_s - start_s)
    assert rate * r["e2e_s"][in_window].mean() == pytest.approx(48, rel=0.05)
    assert m["measured_s"] == pytest.approx(end_s - start_s)
    tokens = (r["input_tokens"] + r["output_tokens"])[in_window].sum()
    assert m["tput_per_gpu_tok_s"] == pytest.approx(tokens / (end_s - start_s) / 16)


def write_cases(path: Path, rows: list[dict]) -> Path:
    with open(CASES, newline="") as f:
        template = next(csv.DictReader(f))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(template))
        writer.writeheader()
        for changes in rows:
            writer.writerow({**template, **changes})
    return path


def test_bad_rows_are_named_by_row_and_column_and_the_others_still_run(tmp_path, capsys):
    path = write_cases(
        tmp_path / "cases.csv",
        [
            {"case_id": "good", "concurrency": "4"},
            {"case_id": "unknown-platform", "platform": "tpu_v7"},
            {"case_id": "unknown-model", "model": "gpt5"},
            {"case_id": "text-measurement", "tput_per_gpu": "fast"},
            {"case_id": "no-concurrency", "concurrency": ""},
            {"case_id": "does-not-fit", "platform": "h100", "precision": "fp8", "disagg": "0", "decode_workers": "1",
             "decode_tp": "4", "decode_ep": "4", "decode_dp_attn": "1", "concurrency": "4"},
        ],
    )
    rows = read_cases(path)
    problems = {r.case_id: r for r in rows if isinstance(r, RowProblem)}
    assert (problems["unknown-platform"].row, problems["unknown-platform"].column) == (3, "platform")
    assert problems["unknown-model"].column == "model" and "gpt5" in problems["unknown-model"].reason
    assert problems["text-measurement"].column == "tput_per_gpu" and "'fast' is not a number" in problems["text-measurement"].reason
    assert problems["no-concurrency"].column == "concurrency"
    json_path = tmp_path / "out.json"
    assert validate_main([str(path), "--json", str(json_path), "--processes", "1"]) == 0
    out = json.loads(json_path.read_text())
    status = {c["case_id"]: c for c in out["cases"]}
    assert status["good"]["status"] == "ok" and status["good"]["tput_per_gpu_pred"] > 0
    unfit = status["does-not-fit"]
    assert unfit["status"] == "not_simulated" and "does not fit" in unfit["reason"] and "GB" in unfit["reason"]
    assert status["unknown-platform"]["status"] == "not_read" and "row 3" in status["unknown-platform"]["reason"]
    assert out["summary"]["n_rows"] == 6 and out["summary"]["n_cases"] == 2 and out["summary"]["n_simulated"] == 1
    assert set(status["unknown-platform"]) >= {"tput_per_gpu_pred", "tput_per_gpu_meas", "interactivity_pred", "interactivity_meas"}
    printed = capsys.readouterr().out
    assert "not read: row 5 (text-measurement), column tput_per_gpu" in printed


def test_a_case_that_fails_or_cannot_be_compared_is_reported_and_the_others_still_run(tmp_path):
    path = write_cases(
        tmp_path / "cases.csv",
        [
            {"case_id": "good", "concurrency": "4"},
            {"case_id": "one-token", "osl": "1", "concurrency": "4"},  # no time per output token to compare
            {"case_id": "two-pools?", "disagg": "2"},
        ],
    )
    rows = read_cases(path)
    assert [r.column for r in rows if isinstance(r, RowProblem)] == ["disagg"]
    json_path = tmp_path / "out.json"
    assert validate_main([str(path), "--json", str(json_path), "--processes", "1", "--calibration", "uncalibrated"]) == 0
    out = json.loads(json_path.read_text())  # valid JSON: no NaN
    status = {c["case_id"]: c["status"] for c in out["cases"]}
    assert status == {"good": "ok", "one-token": "not_simulated", "two-pools?": "not_read"}
    with pytest.raises(InputError, match="no conf/calibration/no_such_calibration.yaml"):  # up front, not per case
        validate_main([str(path), "--processes", "1", "--calibration", "no_such_calibration"])


def test_a_missing_column_refuses_the_file_naming_the_column(tmp_path):
    path = tmp_path / "cases.csv"
    with open(CASES) as f:
        lines = [line.replace(",interactivity,", ",interactivity_x,") for line in f]
    path.write_text("".join(lines))
    with pytest.raises(InputError, match="has no column interactivity;"):
        read_cases(path)


def test_benchmark_mode_reproduces_the_case_layout():
    case = next(r for r in read_cases(CASES) if r.case_id == "ix-b200-dsr1-fp4-1k1k-mtp-c875")
    deployment = build(make_config(*case_overrides(case)))
    prefill, decode = deployment.pools
    assert (prefill.role, prefill.workers, prefill.layout.tp, prefill.layout.dp_attn) == ("prefill", 1, 4, True)
    assert (decode.role, decode.workers, decode.layout.tp, decode.layout.dp_attn) == ("decode", 5, 8, True)
    assert deployment.gpus == case.gpus == 44 and deployment.spec.enabled
    cfg = deployment.cfg
    assert cfg.workload.arrival == "closed_loop" and cfg.workload.length_dist == "uniform" and cfg.workload.steady_state
    # the engine's limits are per attention rank: the 4-rank prefill workers hold every client too
    assert cfg.workload.concurrency == 875 and cfg.engine.max_batch_size * 4 >= 875 / 5


def test_fp4_on_a_gpu_without_fp4_tensor_cores_is_served_weight_only(tmp_path):
    path = write_cases(
        tmp_path / "cases.csv",
        [{"case_id": "gpt-oss-h200", "platform": "h200", "model": "gpt_oss_120b", "precision": "fp4", "disagg": "0",
          "decode_workers": "1", "decode_tp": "1", "decode_ep": "1", "decode_dp_attn": "0", "spec_decode": "none",
          "prefill_workers": "", "prefill_tp": "", "prefill_ep": "", "prefill_dp_attn": "",
          "concurrency": "8"}],
    )
    (case,) = read_cases(path)
    assert "precision=mxfp4" in case_overrides(case)
    assert predict(case, ("calibration=uncalibrated",), requests_per_client=3).ok
    b200 = dataclasses.replace(case, platform="b200")
    assert "precision=fp4" in case_overrides(b200)


#: A measured point no physical factor explains, kept in the calibration set and in this test, with its
#: reason: at 6 clients the measured throughput implies 2.1 s per request outside decoding, where the same
#: deployment at 10 to 180 clients implies 0.2 to 1.1 s (its interactivity is predicted within a few %).
OUTLIERS = {"ix-b200-dsr1-fp4-1k1k-mtp-c6": 0.70}


#: Median |error| bound: the target is 10 %; the calibration fitted on the cases and the 59 frontier points
#: together gives 10.8 % (throughput) and 10.2 % (interactivity) here. A regression bound, not the target.
MEDIAN_BOUND = 0.13


def test_calibrated_model_meets_the_accuracy_targets_on_the_calibration_cases():
    """Regression test on the error (not on exact values): median within MEDIAN_BOUND; every case within 35 %
    (the named outlier within its own bound, so that it cannot drift either)."""
    cases = [r for r in read_cases(CASES) if not isinstance(r, RowProblem)]
    assert len(cases) == 12
    predictions = [predict(case) for case in cases]
    assert all(p.ok for p in predictions)
    tput = np.abs([p.tput_err for p in predictions])
    inter = np.abs([p.interactivity_err for p in predictions])
    assert np.median(tput) <= MEDIAN_BOUND and np.median(inter) <= MEDIAN_BOUND
    for p, t, i in zip(predictions, tput, inter):
        bound = OUTLIERS.get(p.case.case_id, 0.35)
        assert t <= bound and i <= 0.35, (p.case.case_id, t, i)
