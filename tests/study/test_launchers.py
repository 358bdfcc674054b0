"""Launchers, one machine to a cluster: the same sweep through Ray and through submitit gives the basic
launcher's results, job by job.

The Ray test needs a running Ray head: it runs when ``SIM_RAY_ADDRESS`` names one (``.ci/run`` starts
a local head on 127.0.0.1 and sets it), and is skipped otherwise. The submitit test runs the SLURM
launcher's local executor (``hydra/launcher=submitit_local``) when the ``.[slurm]`` extra is installed.
"""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

from tests.conftest import run_sim

pytestmark = pytest.mark.functional
SWEEP = ("platform=h200", "precision=fp8", "workload.num_requests=150", "workload.output_tokens=128", "output.figure=false",
         "output.print_summary=false", "seed=1,2", "fleet.racks=1,2")


def metrics_by_job(sweep_dir) -> dict:
    out = {}
    for job in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and (p / "status.json").exists()):
        assert json.loads((job / "status.json").read_text())["status"] == "ok"
        metrics = json.loads((job / "metrics.json").read_text())
        metrics.pop("wall_time_s")
        out[job.name] = metrics
    return out


@pytest.fixture(scope="module")
def basic(tmp_path_factory):
    out = tmp_path_factory.mktemp("basic")
    run_sim("-m", *SWEEP, f"hydra.sweep.dir={out}")
    return metrics_by_job(out)


@pytest.mark.skipif(not os.environ.get("SIM_RAY_ADDRESS"), reason="no Ray head: set SIM_RAY_ADDRESS=HOST:PORT (.ci/run does)")
def test_a_sweep_on_a_ray_cluster_equals_the_basic_launchers(basic, tmp_path):
    address = os.environ["SIM_RAY_ADDRESS"]
    run_sim("-m", *SWEEP, "hydra/launcher=ray", f"hydra.launcher.address={address}", f"hydra.sweep.dir={tmp_path}")
    assert metrics_by_job(tmp_path) == basic and len(basic) == 4


@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None, reason="pip install -e '.[slurm]'")
def test_a_sweep_through_submitit_equals_the_basic_launchers(basic, tmp_path):
    run_sim("-m", *SWEEP, "hydra/launcher=submitit_local", f"hydra.sweep.dir={tmp_path}")
    assert metrics_by_job(tmp_path) == basic and len(basic) == 4
