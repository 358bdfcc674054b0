"""Jobs that never lose results: resume, signals, exit status, bad launchers (sim/run/job.py, sim/run/cli.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.study.aggregate import aggregate
from tests.conftest import run_sim

pytestmark = pytest.mark.functional
ROOT = Path(__file__).resolve().parents[2]
TINY = ("platform=h200", "precision=fp8", "workload.num_requests=120", "workload.output_tokens=128",
        "output.figure=false", "output.print_summary=false")


def status(job: Path) -> dict:
    return json.loads((job / "status.json").read_text())


def test_a_rerun_resumes_keeping_ok_jobs_and_running_the_others(tmp_path):
    args = ["-m", *TINY, "seed=1,2,3", f"hydra.sweep.dir={tmp_path}"]
    run_sim(*args)
    kept = (tmp_path / "0" / "metrics.json").stat().st_mtime_ns
    (tmp_path / "1" / "metrics.json").unlink()  # a job whose results were lost
    state = status(tmp_path / "2")
    (tmp_path / "2" / "status.json").write_text(json.dumps({**state, "status": "running"}))  # a job killed outright
    done = run_sim(*args)
    assert "job 0: already ok" in done.stdout + done.stderr
    assert (tmp_path / "0" / "metrics.json").stat().st_mtime_ns == kept  # not run again
    assert all(status(tmp_path / str(j))["status"] == "ok" for j in range(3))
    assert (tmp_path / "1" / "metrics.json").exists()


def test_a_job_of_another_configuration_in_the_same_folder_runs_again(tmp_path):
    run_sim("-m", *TINY, "seed=1", f"hydra.sweep.dir={tmp_path}")
    first = json.loads((tmp_path / "0" / "metrics.json").read_text())
    done = run_sim("-m", *TINY, "seed=2", f"hydra.sweep.dir={tmp_path}")
    assert "already ok" not in done.stdout + done.stderr
    assert json.loads((tmp_path / "0" / "metrics.json").read_text())["seed"] == 2 != first["seed"]


def test_folders_an_earlier_sweep_left_change_neither_the_exit_status_nor_the_table(tmp_path):
    """Three refused jobs (FP4 on H200), then a one-job sweep in the same folder: it exits 0, and the table holds
    its one job, the two folders left by the first sweep reported and left out."""
    first = run_sim("-m", *TINY, "precision=fp4", "seed=1,2,3", f"hydra.sweep.dir={tmp_path}", check=False)
    assert first.returncode == 1
    second = run_sim("-m", *TINY, "seed=1", f"hydra.sweep.dir={tmp_path}", check=False)
    assert second.returncode == 0, second.stderr
    assert "sweep " in second.stderr + second.stdout and "1 ok" in second.stderr + second.stdout
    tables = aggregate(tmp_path, progress=False)
    assert tables["summary"]["job"].tolist() == ["0"] and tables["summary"]["status"].tolist() == ["ok"]
    assert [p.split(":")[0] for p in tables["problems"]] == ["job 1", "job 2"] and "earlier sweep" in tables["problems"][0]


def test_sigterm_marks_the_job_interrupted_and_leaves_no_partial_file(tmp_path):
    """A long single run killed by SIGTERM: status interrupted, exit 143, no metrics or table half written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "platform=h200", "precision=fp8", "workload.num_requests=400000",
         "output.figure=false", f"hydra.run.dir={tmp_path}"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (tmp_path / "status.json").exists():
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert status(tmp_path) == {**status(tmp_path), "status": "interrupted", "error": "interrupted by SIGTERM"}
    assert "stopped: interrupted by SIGTERM" in err and "Traceback" not in err
    assert not any(p.name in ("metrics.json", "requests.csv", "requests.parquet") for p in tmp_path.iterdir())
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_sweep_killed_half_way_and_resumed_gives_the_uninterrupted_table(tmp_path):
    """SIGKILL after the first jobs (no chance to record anything), then the same command again."""
    args = [*TINY, "seed=1,2,3,4,5,6"]
    run_sim("-m", *args, f"hydra.sweep.dir={tmp_path / 'whole'}")
    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "sim", "-m", *args, f"hydra.sweep.dir={cut}"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (cut / "2" / "status.json").exists():
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert not (cut / "5" / "status.json").exists(), "the sweep ended before it could be killed"
    run_sim("-m", *args, f"hydra.sweep.dir={cut}")
    aggregate(tmp_path / "whole", progress=False)
    aggregate(cut, progress=False)
    assert (cut / "summary.csv").read_bytes() == (tmp_path / "whole" / "summary.csv").read_bytes()
    assert (cut / "summary.parquet").read_bytes() == (tmp_path / "whole" / "summary.parquet").read_bytes()


def test_an_unknown_launcher_is_refused_in_one_line():
    done = run_sim("-m", "seed=1", "hydra/launcher=slurmish", check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: hydra/launcher=slurmish is not a launcher: use one of basic, joblib, ray, submitit_local, submitit_slurm"


def test_a_ray_address_that_does_not_answer_is_refused_within_seconds(tmp_path):
    pytest.importorskip("ray")
    started = time.monotonic()
    done = run_sim("-m", *TINY, "seed=1", "hydra/launcher=ray", "hydra.launcher.address=127.0.0.1:9",
                   "hydra.launcher.connect_timeout_s=2", f"hydra.sweep.dir={tmp_path}", check=False)
    assert done.returncode != 0 and time.monotonic() - started < 30
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: hydra.launcher.address=127.0.0.1:9: no Ray head answers there") and "ray start --head" in last
    assert not (tmp_path / "0").exists()


def test_the_progress_steps_do_not_change_a_run():
    """Running in steps to show progress stops the clock between events: the same run, bit for bit."""
    from sim.base.config import compose_config
    from sim.run.simulation import simulate

    for extra in ((), ("max_sim_time_s=8",), ("workload=closed_loop", "workload.num_requests=300")):
        quiet = simulate(compose_config(*TINY[:4], *extra, "output.progress=false"))
        shown = simulate(compose_config(*TINY[:4], *extra, "output.progress=true"))
        for key in ("arrival_s", "first_token_s", "finish_s", "cost_usd"):
            assert quiet.requests[key].tolist() == pytest.approx(shown.requests[key].tolist(), rel=0, abs=0, nan_ok=True)
        assert quiet.metrics["sim_time_s"] == shown.metrics["sim_time_s"] and quiet.metrics["events"] == shown.metrics["events"]


def test_the_guard_allows_the_projects_sweep_callback_and_no_other():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf, open_dict

    from sim.base.config import CONFIG_DIR, ConfigError, register_configs
    from sim.run.guard import check_config

    register_configs()
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        cfg = compose("config", return_hydra_config=True)
    assert OmegaConf.select(cfg, "hydra.callbacks.sweep._target_") == "sim.run.job.SweepCallback"
    check_config(cfg)  # the project's own: allowed
    with open_dict(cfg):
        cfg.hydra.callbacks.sweep.extra = "x"  # the same class with arguments: refused
    with pytest.raises(ConfigError, match="hydra.callbacks.sweep"):
        check_config(cfg)
