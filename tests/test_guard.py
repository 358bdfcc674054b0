"""The command line's guard lets every shipped configuration through, and refuses code and environment
wherever it hides (the catalogue in test_bad_input.py holds the attacks themselves)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.run.cli import main as cli_main
from sim.base.config import ConfigError
from sim.run.guard import check_command_line, check_override

APP = cli_main.__wrapped__


@pytest.mark.parametrize(
    "argv",
    [
        [], ["platform=h200", "precision=fp8", "fleet.racks=2"], ["-m", "fleet.racks=1,2", "precision=fp8,fp4"],
        ["-m", "+experiment=h200_vs_gb200"], ["-m", "hydra/launcher=joblib", "fleet.racks=1,2"], ["workload=benchmark"],
        ["hydra.run.dir=outputs/${now:%Y}/x"], ["--cfg", "job"], ["--help"], ["workload.name=plain text: with a colon"],
        ["hydra/job_logging=disabled"], ["hydra/job_logging=stdout", "hydra/hydra_logging=none"], ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=-1", "seed=1,2"],
        ["-m", "+experiment=study_example"],
    ],
)
def test_the_shipped_configurations_and_ordinary_command_lines_pass(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_command_line(argv, APP)


@pytest.mark.parametrize(
    "override",
    [
        "hydra.callbacks.x._target_=os.system", "+hydra.callbacks={x:{_target_:os.system}}", "++foo._target_=a.b",
        "~hydra.job_logging.handlers.()", "x=${oc.env:HOME,default}", "x=${ oc.env : HOME }", "x=prefix${oc.create:{}}",
        "hydra.job.env_copy=[A]", "x=${oc.env:${y}}",
    ],
)
def test_an_override_naming_code_or_environment_is_refused(override):
    with pytest.raises(ConfigError, match="never run code or read the environment"):
        check_override(override)


def test_interpolations_within_the_configuration_pass():
    check_override("workload.name=${model.name}")  # a plain interpolation reads the configuration only
    check_override("hydra.run.dir=out/${now:%H-%M}/${hydra.job.override_dirname}")


def test_a_refused_attack_runs_nothing_through_the_real_command(tmp_path):
    """The issue's attack, an experiment file that copies a file from a Hydra callback: the file is not
    copied, no output folder is made, and with SIM_DEBUG=1 the refusal shows its traceback."""
    conf = tmp_path / "conf" / "experiment"
    conf.mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("secret\n")
    (conf / "evil.yaml").write_text(
        "# @package _global_\nhydra:\n  callbacks:\n    steal:\n      _target_: shutil.copyfile\n"
        f"      src: {tmp_path / 'secret.txt'}\n      dst: {tmp_path / 'stolen.txt'}\n"
    )
    argv = [sys.executable, "-m", "sim", "--config-dir", str(tmp_path / "conf"), "+experiment=evil", f"hydra.run.dir={tmp_path / 'run'}"]
    out = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, SIM_DEBUG="1"), timeout=120)
    assert out.returncode == 2 and "Traceback" in out.stderr and out.stderr.strip().splitlines()[-1].startswith("error: hydra.callbacks.steal")
    assert not (tmp_path / "stolen.txt").exists() and not (tmp_path / "run").exists()
    assert Path(tmp_path / "secret.txt").read_text() == "secret\n"


def test_a_sweep_is_checked_once_per_combination_of_the_config_files_its_values_select(tmp_path, monkeypatch):
    """Hydra composes a sweep's jobs only when they start: the guard composes each combination of config-group
    values (platform x precision here; fleet.racks loads no file, so it does not multiply them) before any runs."""
    from sim.run.guard import compose

    monkeypatch.chdir(tmp_path)
    composed = compose(["-m", "platform=h200,b200", "precision=fp8,fp4", "fleet.racks=1,2"], APP)
    assert composed.multirun and len(composed.variants) == 4
    assert sorted((v.platform.name, v.precision.name) for v in composed.variants) == [
        ("b200", "fp4"), ("b200", "fp8"), ("h200", "fp4"), ("h200", "fp8")]
    study = compose(["-m", "+experiment=study_example"], APP)  # its sweep in hydra.sweeper.params: 3 platforms x 2 precisions
    assert len(study.variants) == 6
    assert compose(["-m", "seed=1,2,3"], APP).variants == []  # no config file selected: the values are checked as text


def test_each_job_checks_its_own_configuration_before_writing_anything(tmp_path):
    """The second line: the Hydra app run without the command line's guard still refuses, in the job, a configuration
    that reads the environment (the job says failed, no resolved configuration or metrics hold the variable)."""
    conf = tmp_path / "conf" / "experiment"
    conf.mkdir(parents=True)
    (conf / "plain.yaml").write_text("# @package _global_\nworkload:\n  num_requests: 60\n")
    (conf / "secret.yaml").write_text("# @package _global_\nworkload:\n  num_requests: 60\n  name: ${oc.env:SECRET}\n")
    argv = ["sim", "--config-dir", str(tmp_path / "conf"), "-m", "+experiment=plain,secret", "output.figure=false",
            "output.print_summary=false", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    code = f"import sys; sys.argv = {argv!r}; from sim.run.cli import hydra_main; hydra_main.__wrapped__()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, SECRET="hunter2"),
                         timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert "hunter2" not in out.stdout + out.stderr
    plain, secret = tmp_path / "sweep" / "0", tmp_path / "sweep" / "1"
    assert (plain / "metrics.json").exists() and not (secret / "config_resolved.yaml").exists()
    assert "oc.env" in (secret / "status.json").read_text() and '"failed"' in (secret / "status.json").read_text()
    assert not any("hunter2" in p.read_text(errors="replace") for p in (tmp_path / "sweep").rglob("*") if p.is_file())
