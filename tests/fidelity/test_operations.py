"""Operation-level validation (``python -m sim.validate --ops``): collectives and kernels predicted by the
network layer and the per-kernel model alone, no simulation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sim.base.config import compose_config
from sim.base.errors import InputError
from sim.fidelity.cases import RowProblem
from sim.fidelity.operations import SHIPPED, OpResult, predict_collective, predict_file, predict_kernel, summary
from sim.validate import main as validate_main
from tests.conftest import run_sim

COLLECTIVES, KERNELS = SHIPPED

#: The target on each file's median |error| (%): the network layer and the per-kernel model predict the collective
#: and kernel microbenchmarks within 15 % (measured: collectives 12.8, kernels 8.9).
MEDIAN_BOUND = {"collective": 15.0, "kernel": 15.0}


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write(path: Path, template: Path, rows: list[dict]) -> Path:
    header = list(_rows(template)[0])
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key, "") for key in header})
    return path


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_files_are_read_without_a_row_problem_and_predicted_within_the_regression_bound(path):
    kind, rows = predict_file(path)
    assert not [r for r in rows if isinstance(r, RowProblem)]
    s = summary(kind, rows)
    assert s["n_rows"] == len(_rows(path)) and s["n_predicted"] >= 50
    assert s["n_predicted"] + s["n_not_predictable"] == s["n_rows"]
    print(f"{path.name}: median |error| {s['median_abs_pct_err']:.1f}%, max {s['max_abs_pct_err']:.1f}%")
    assert s["median_abs_pct_err"] <= MEDIAN_BOUND[kind]
    # every usable row is predicted, every unusable one is listed with its reason
    usable = {r["fact_id"] for r in _rows(path) if r["usable"] == "1"}
    assert {r.fact_id for r in rows if r.ok} == usable
    assert all(r.reason for r in rows if not r.ok)


def test_allreduce_by_hand():
    """16 ranks, 8 per domain: a hierarchical all-reduce, pipelined over the slower of its two links."""
    p = compose_config("platform=h100").platform
    up, out = p.topology.scaleup, p.topology.scaleout
    size, n, m = 2**30, 8, 2
    latency = out.allreduce_latency_s + 2 * (up.hop_latency_s + (n - 1) * up.peer_latency_s)
    latency += 2 * (m - 1) * (2 * out.nic_latency_s + out.switch_latency_s + up.hop_latency_s)  # rail-optimised path
    per_byte = max(2 * (n - 1) / n / (up.allreduce_efficiency * 450e9), 2 * (m - 1) / m / n / (out.allreduce_efficiency * 50e9))
    row = {"fact_id": "X", "platform": "h100", "operation": "allreduce", "link": "scaleout", "ranks": "16",
           "ranks_per_domain": "8", "link_gb_s": "50", "message_bytes": str(size), "measured_s": "0.01"}
    result = predict_collective(row)
    assert result.compared == "time"
    assert result.predicted == pytest.approx(latency + size * per_byte, rel=1e-12)
    assert result.error == pytest.approx(result.predicted / 0.01 - 1)


def test_dispatch_by_hand_as_a_time_and_as_a_deduplicated_bandwidth():
    p = compose_config("platform=gb200_nvl72").platform
    up = p.topology.scaleup
    tokens, top_k, hidden, ranks = 2048, 8, 7168, 8
    logical = tokens * top_k * hidden * 2
    time_s = up.alltoall_latency_s + up.hop_latency_s + (ranks - 1) * up.peer_latency_s + logical * 7 / 8 / (up.alltoall_efficiency * 900e9)
    row = {"fact_id": "X", "platform": "gb200_nvl72", "operation": "dispatch", "link": "scaleup", "ranks": "8",
           "ranks_per_domain": "8", "link_gb_s": "900", "tokens_per_rank": str(tokens), "hidden": str(hidden),
           "top_k": str(top_k), "elem_bytes": "2", "measured_s": "0.0003"}
    assert predict_collective(row).predicted == pytest.approx(time_s, rel=1e-12)
    # only a bandwidth, counted once per distinct destination rank (DeepEP normal): the same time, that count
    row.update(measured_s="", measured_gb_s="700", note="DeepEP: deduplicated per destination rank")
    result = predict_collective(row)
    distinct = ranks * (1 - (1 - 1 / ranks) ** top_k)
    assert result.compared == "bw:rank-dedup"
    assert result.predicted == pytest.approx(tokens * distinct * hidden * 2 / time_s / 1e9, rel=1e-12)


def test_gemm_by_hand():
    p = compose_config("platform=b200").platform
    k = p.kernels
    flops, nbytes = 2 * 4096**3, 3 * 4096**2
    expected = k.kernel_floor_s + max(flops / (p.fp8_dense_tflops * 1e12 * k.gemm_fraction["fp8"]), nbytes / (p.hbm_bw_tb_s * 1e12 * k.weight_read_fraction["fp8"]))
    row = {"fact_id": "X", "platform": "b200", "generation": "blackwell", "kernel": "gemm", "dtype": "fp8", "m": "4096",
           "n": "4096", "k": "4096", "flops": str(flops), "hbm_bytes": str(nbytes), "measured_s": "1e-4"}
    assert predict_kernel(row).predicted == pytest.approx(expected, rel=1e-12)
    row.update(kernel="kernel_floor", flops="", hbm_bytes="")
    assert predict_kernel(row).predicted == k.kernel_floor_s


def test_a_bad_row_is_named_and_the_others_are_still_predicted(tmp_path):
    good = {r["fact_id"]: r for r in _rows(COLLECTIVES)}
    rows = [
        good["C029"],
        {**good["C030"], "fact_id": "B1", "ranks": "eight"},
        {**good["C030"], "fact_id": "B2", "platform": "tpu_v7"},
        {**good["C030"], "fact_id": "B3", "operation": "broadcast"},
        {**good["C030"], "fact_id": "B4", "usable": "yes"},
        {**good["C030"], "fact_id": "B5", "hidden": ""},
        good["C057"],
    ]
    kind, results = predict_file(_write(tmp_path / "ops.csv", COLLECTIVES, rows))
    assert kind == "collective"
    assert [r.fact_id for r in results if isinstance(r, OpResult) and r.ok] == ["C029", "C057"]
    problems = {r.case_id: r for r in results if isinstance(r, RowProblem)}
    assert {k: p.column for k, p in problems.items()} == {"B1": "ranks", "B2": "platform", "B3": "operation", "B4": "usable", "B5": "hidden"}
    assert "'eight' is not a number" in problems["B1"].reason and "tpu_v7" in problems["B2"].reason


def test_a_bad_kernel_row_does_not_stop_the_others(tmp_path):
    good = {r["fact_id"]: r for r in _rows(KERNELS)}
    rows = [good["K006"], {**good["K011"], "fact_id": "B1", "measured_s": "-1"}, {**good["K011"], "fact_id": "B2", "dtype": "fp4", "platform": "h100"}]
    kind, results = predict_file(_write(tmp_path / "k.csv", KERNELS, rows))
    assert kind == "kernel" and results[0].ok
    assert [(r.case_id, r.column) for r in results[1:]] == [("B1", "measured_s"), ("B2", "dtype")]


def test_empty_header_only_and_wrong_schema_files_are_refused_with_one_clear_line(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="is empty"):
        predict_file(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text(COLLECTIVES.read_text().splitlines()[0] + "\n")
    with pytest.raises(InputError, match="has a header but no rows"):
        predict_file(header_only)
    wrong = tmp_path / "cases.csv"
    wrong.write_text("case_id,platform,model\nx,h100,llama3_70b\n")
    with pytest.raises(InputError, match="neither the header of a collective_ops file nor of a kernel_ops file"):
        predict_file(wrong)
    near = tmp_path / "near.csv"
    near.write_text("fact_id,platform,generation,kernel,dtype,flops,measured_s\nK1,h100,hopper,gemm,fp8,1,1\n")
    with pytest.raises(InputError, match="looks like a kernel_ops file but has no column hbm_bytes, usable"):
        predict_file(near)
    assert run_sim("--ops", str(wrong), module="sim.validate", check=False).returncode == 2


def test_the_door_writes_valid_json(tmp_path, capsys):
    out = tmp_path / "ops.json"
    assert validate_main(["--ops", str(KERNELS), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [f["kind"] for f in data["files"]] == ["kernel"]
    assert "kernel_ops.csv: " in capsys.readouterr().out
    # with no file: both shipped files, collectives first, through python -m sim.validate
    both = tmp_path / "both.json"
    done = run_sim("--ops", "--json", str(both), module="sim.validate", env={"SIM_PURE_PYTHON": "1"})
    data = json.loads(both.read_text())
    assert [f["kind"] for f in data["files"]] == ["collective", "kernel"]
    first = data["files"][0]
    assert first["summary"]["n_predicted"] == sum(r["status"] == "ok" for r in first["rows"])
    assert "median |error|" in done.stdout and "not predictable" in done.stdout
