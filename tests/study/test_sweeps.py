"""Sweeps: a Hydra multirun equals its single runs, in parallel as in sequence, and survives failed jobs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.study.results import collect
from tests.test_functional import SMALL, comparable

pytestmark = pytest.mark.functional
ROOT = Path(__file__).resolve().parents[2]


def _run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim", *args], check=check, cwd=ROOT, capture_output=True, text=True)


def test_a_two_job_sweep_equals_two_single_runs(tmp_path):
    args = [*SMALL, "output.print_summary=false"]
    _run_cli("-m", *args, "fleet.racks=1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    for job, racks in ((0, 1), (1, 2)):
        _run_cli(*args, f"fleet.racks={racks}", f"hydra.run.dir={tmp_path / f'single{racks}'}")
        swept = json.loads((tmp_path / "sweep" / str(job) / "metrics.json").read_text())
        single = json.loads((tmp_path / f"single{racks}" / "metrics.json").read_text())
        assert comparable(swept) == comparable(single)
        assert swept["gpus"] == 8 * racks
        assert json.loads((tmp_path / "sweep" / str(job) / "status.json").read_text())["status"] == "ok"


def test_a_parallel_sweep_equals_a_sequential_one(tmp_path):
    """The joblib launcher (jobs in worker processes) gives the basic launcher's metrics, job by job."""
    args = [*SMALL, "output.print_summary=false", "fleet.racks=1,2", "seed=3,4"]
    _run_cli("-m", *args, f"hydra.sweep.dir={tmp_path / 'sequential'}")
    _run_cli("-m", *args, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path / 'parallel'}")
    sequential, parallel = collect(tmp_path / "sequential")[0], collect(tmp_path / "parallel")[0]
    assert len(sequential) == len(parallel) == 4
    for a, b in zip(sequential, parallel):
        assert a["status"] == b["status"] == "ok"
        assert comparable(a) == comparable(b)


def test_a_failing_job_does_not_stop_the_sweep(tmp_path):
    """h200 has no FP4: that job fails with its reason recorded, the other still writes its metrics, and
    the sweep exits with status 1 once both ran."""
    done = _run_cli("-m", *SMALL, "output.print_summary=false", "precision=fp4,fp8", f"hydra.sweep.dir={tmp_path}", check=False)
    assert done.returncode == 1, done.stderr
    failed = json.loads((tmp_path / "0" / "status.json").read_text())
    assert failed["status"] == "failed" and "FP4" in failed["error"]
    assert json.loads((tmp_path / "1" / "status.json").read_text())["status"] == "ok"
    assert (tmp_path / "1" / "metrics.json").exists()
    rows = collect(tmp_path)[0]  # the sweep table is built from the job folders alone
    assert [r["status"] for r in rows] == ["failed", "ok"]
    assert rows[0]["precision"] == "fp4" and "FP4" in rows[0]["error"]
    assert rows[1]["tput_per_gpu_tok_s"] > 0
