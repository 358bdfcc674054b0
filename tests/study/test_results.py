"""Aggregation: one tidy table from the job folders, whatever state they are in (sim/study/results.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sim.study.aggregate import aggregate
from sim.study.results import StudyError, collect, load, typed
from tests.conftest import run_sim

pytestmark = pytest.mark.functional
TINY = ("platform=h200", "workload.num_requests=120", "workload.output_tokens=128", "output.figure=false",
        "output.print_summary=false")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """Six jobs: fp8 and fp4 (h200 has no FP4 tensor cores: refused) over three seeds."""
    out = tmp_path_factory.mktemp("sweep")
    done = run_sim("-m", *TINY, "precision=fp8,fp4", "seed=1,2,3", f"hydra.sweep.dir={out}", check=False)
    assert done.returncode == 1  # the refused jobs: the sweep says so after all ran
    return out


def test_the_table_has_one_typed_row_per_job_failed_ones_included(sweep):
    df = aggregate(sweep, progress=False)["summary"]
    assert list(df.columns[:3]) == ["job", "status", "error"]
    assert df["status"].tolist() == ["ok", "ok", "ok", "failed", "failed", "failed"]
    assert df["seed"].tolist() == [1, 2, 3, 1, 2, 3] and df["seed"].dtype.kind == "i"
    failed = df[df["status"] == "failed"]
    assert (failed["precision"] == "fp4").all() and failed["error"].str.contains("FP4").all()
    ok = df[df["status"] == "ok"]
    assert (ok["tput_per_gpu_tok_s"] > 0).all() and (ok["platform"] == "h200").all() and (ok["model"] == "deepseek_r1").all()
    assert "wall_time_s" not in df  # run-dependent: left out so the same study gives the same bytes
    assert pd.read_parquet(sweep / "summary.parquet").equals(df)
    assert load(sweep).equals(df)


def test_aggregating_twice_gives_the_same_bytes(sweep):
    aggregate(sweep, progress=False)
    first = {p.name: p.read_bytes() for p in sweep.iterdir() if p.is_file() and p.suffix in (".csv", ".parquet")}
    aggregate(sweep, progress=False)
    assert first == {p.name: p.read_bytes() for p in sweep.iterdir() if p.is_file() and p.suffix in (".csv", ".parquet")}


@pytest.mark.parametrize(
    "damage, status, error",
    [
        (lambda job: (job / "metrics.json").write_text(""), "unreadable", "metrics.json is empty"),
        (lambda job: (job / "metrics.json").write_text('{"requests_completed": 1'), "unreadable", "metrics.json is corrupt"),
        (lambda job: (job / "metrics.json").unlink(), "unreadable", "metrics.json is missing"),
        (lambda job: (job / "metrics.json").write_text('{"requests_completed": 1}'), "unreadable", "metrics.json lacks"),
        (lambda job: (job / "metrics.json").write_text((job / "metrics.json").read_text().replace('"cost_usd_per_mtok": ', '"cost_usd_per_mtok": "cheap", "x": ')),
         "unreadable", "metrics.json holds cost_usd_per_mtok='cheap', not a number"),
        (lambda job: (job / "status.json").write_text("{\n"), "unreadable", "status.json is corrupt"),
        (lambda job: (job / "status.json").write_bytes(b"\xff\xfe\x00"), "unreadable", "status.json cannot be read"),
        (lambda job: (job / "status.json").unlink(), "incomplete", "no status"),
        (lambda job: (job / "status.json").write_text(json.dumps({**json.loads((job / "status.json").read_text()), "status": "running"})),
         "incomplete", "still running"),
    ],
)
def test_a_damaged_job_is_reported_and_the_rest_aggregated(sweep, tmp_path, damage, status, error):
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    damage(copy / "1")
    tables = aggregate(copy, progress=False)
    df = tables["summary"].set_index("job")
    assert df.loc["1", "status"] == status and error in df.loc["1", "error"]
    assert df.loc["0", "status"] == df.loc["2", "status"] == "ok"  # the others are whole
    assert pd.isna(df.loc["1"].get("tput_per_gpu_tok_s"))  # a job without metrics is never ok
    if status == "unreadable":
        assert any(p.startswith("job 1:") for p in tables["problems"])


def test_an_empty_or_missing_sweep_folder_is_refused_with_what_to_do(tmp_path):
    with pytest.raises(StudyError, match="is not a folder"):
        collect(tmp_path / "nothing")
    (tmp_path / "stray").mkdir()
    with pytest.raises(StudyError, match="holds no job folders"):
        collect(tmp_path)
    done = run_sim(str(tmp_path), module="sim.aggregate", check=False)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    done = run_sim(str(tmp_path / "nothing"), module="sim.report", check=False)
    assert done.returncode == 2 and "is not a folder" in done.stderr


def test_the_sweep_door_keeps_working(sweep):
    done = run_sim(str(sweep), "--quiet", module="sim.sweep")
    assert "6 jobs (3 failed, 3 ok)" in done.stdout and (sweep / "summary.csv").exists()


def test_override_values_keep_their_type():
    assert [typed(v) for v in ("2", "0.5", "true", "null", "fp8", "'a b'")] == [2, 0.5, True, None, "fp8", "a b"]


def test_a_job_folder_from_an_older_simulator_still_reads(sweep, tmp_path):
    """No overrides in status.json: they come from Hydra's .hydra/overrides.yaml."""
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    state = json.loads((copy / "0" / "status.json").read_text())
    (copy / "0" / "status.json").write_text(json.dumps({"status": state["status"], "error": None}))
    df = aggregate(copy, progress=False)["summary"].set_index("job")
    assert df.loc["0", "seed"] == 1 and df.loc["0", "status"] == "ok"
