"""The command line's guard lets every shipped configuration through, and refuses code and environment
wherever it hides (the catalogue in test_bad_input.py holds the attacks themselves)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main as cli_main
from sim.config import ConfigError
from sim.guard import check_command_line, check_override

APP = cli_main.__wrapped__


@pytest.mark.parametrize(
    "argv",
    [
        [], ["platform=h200", "precision=fp8", "fleet.racks=2"], ["-m", "fleet.racks=1,2", "precision=fp8,fp4"],
        ["-m", "+experiment=h200_vs_gb200"], ["-m", "hydra/launcher=joblib", "fleet.racks=1,2"], ["workload=benchmark"],
        ["hydra.run.dir=outputs/${now:%Y}/x"], ["--cfg", "job"], ["--help"], ["workload.name=plain text: with a colon"],
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
