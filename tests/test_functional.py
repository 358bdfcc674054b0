"""Functional behaviour: capacity helps, seeds reproduce, sweeps equal single runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.simulation import Simulation, build, simulate
from sim.sweep import collect
from tests.conftest import make_config

pytestmark = pytest.mark.functional
ROOT = Path(__file__).resolve().parent.parent
SMALL = (
    "platform=h200", "model=deepseek_r1", "precision=fp8", "workload.num_requests=400",
    "workload.output_tokens=256", "output.figure=false", "output.requests_csv=false",
)


def comparable(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "wall_time_s"}


def test_more_racks_never_raise_p99_ttft_at_a_fixed_rate():
    rate = 1.2 * build(make_config(*SMALL)).capacity_rps  # beyond one rack's capacity
    p99 = []
    for racks in (1, 2, 3, 4):
        m = simulate(make_config(*SMALL, "workload.load_fraction=null", f"workload.rate_rps={rate}", f"fleet.racks={racks}")).metrics
        p99.append(m["ttft_s_p99"])
    assert all(a >= b for a, b in zip(p99, p99[1:])), p99
    assert p99[0] > 2 * p99[-1]


@pytest.mark.parametrize(
    "deployment",
    [("platform=h200", "precision=fp8"), ("platform=b200", "model=llama3_70b", "precision=fp8", "worker.tp=2")],
)
def test_the_capacity_estimate_is_the_measured_saturation(deployment):
    """What load_fraction is relative to: offered 3x the estimate, the fleet completes about the estimate."""
    sim = Simulation(build(make_config(*deployment, "workload.num_requests=20000", "workload.load_fraction=3.0",
                                       "output.figure=false")))
    result = sim.run()
    finish = np.sort(result.requests["finish_s"])
    start_s, end_s = 0.3 * finish[-1], 0.7 * finish[-1]  # the saturated middle of the run
    measured_rps = ((finish > start_s) & (finish <= end_s)).sum() / (end_s - start_s)
    assert measured_rps == pytest.approx(sim.deployment.capacity_rps, rel=0.1)


def test_same_seed_same_metrics_and_other_seed_other_metrics():
    a = simulate(make_config(*SMALL, "seed=7"))
    b = simulate(make_config(*SMALL, "seed=7"))
    c = simulate(make_config(*SMALL, "seed=8"))
    assert comparable(a.metrics) == comparable(b.metrics)
    for col in ("arrival_s", "first_token_s", "finish_s", "cost_usd"):
        np.testing.assert_array_equal(a.requests[col], b.requests[col])
    assert a.metrics["ttft_s_p50"] != c.metrics["ttft_s_p50"]


def test_fleets_offered_the_same_rate_see_the_same_requests():
    """Common random numbers: the workload's streams do not depend on the fleet."""
    one = simulate(make_config(*SMALL, "workload.load_fraction=null", "workload.rate_rps=3", "fleet.racks=1"))
    two = simulate(make_config(*SMALL, "workload.load_fraction=null", "workload.rate_rps=3", "fleet.racks=2"))
    for col in ("arrival_s", "input_tokens", "output_tokens"):
        np.testing.assert_array_equal(one.requests[col], two.requests[col])


def _run_cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "sim", *args], check=True, cwd=ROOT, capture_output=True, text=True)


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
    sequential, parallel = collect(tmp_path / "sequential"), collect(tmp_path / "parallel")
    assert len(sequential) == len(parallel) == 4
    for a, b in zip(sequential, parallel):
        assert a["status"] == b["status"] == "ok"
        assert comparable(a) == comparable(b)


def test_a_failing_job_does_not_stop_the_sweep(tmp_path):
    """h200 has no FP4: that job fails with its reason recorded, the other still writes its metrics."""
    _run_cli("-m", *SMALL, "output.print_summary=false", "precision=fp4,fp8", f"hydra.sweep.dir={tmp_path}")
    failed = json.loads((tmp_path / "0" / "status.json").read_text())
    assert failed["status"] == "failed" and "FP4" in failed["error"]
    assert json.loads((tmp_path / "1" / "status.json").read_text())["status"] == "ok"
    assert (tmp_path / "1" / "metrics.json").exists()
    rows = collect(tmp_path)  # the sweep table is built from the job folders alone
    assert [r["status"] for r in rows] == ["failed", "ok"]
    assert rows[0]["precision"] == "fp4" and "FP4" in rows[0]["error"]
    assert rows[1]["tput_per_gpu_tok_s"] > 0
