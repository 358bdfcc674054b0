"""Calibration leaves the shipped files alone: a new name writes a new file; replacing one needs --replace
and keeps the previous file beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import sim.fidelity.calibrate as calibrate
from sim.base.errors import InputError

CASES = Path(__file__).resolve().parents[2] / "data" / "reference" / "benchmark_cases.csv"
VALUES = {name: start for name, _, _, start in calibrate.PARAMETERS}
FITTED = {"generations": {"blackwell": VALUES}, "fallback": "blackwell", "uncertainty": {"blackwell": dict.fromkeys(VALUES, 0.1)},
          **{name: start for name, _, _, start in calibrate.SHARED}}
STATS = {"n_simulated": 12, "median_abs_pct_err_tput": 4.0, "median_abs_pct_err_interactivity": 8.0,
         "max_abs_pct_err_tput": 50.0, "max_abs_pct_err_interactivity": 15.0}


@pytest.fixture
def conf(tmp_path, monkeypatch):
    """A copy of conf/calibration/ as the folder calibrate writes to, and a fit that takes no time."""
    (tmp_path / "calibration").mkdir()
    (tmp_path / "calibration" / "default.yaml").write_text("name: default\n# the shipped fit\n")
    monkeypatch.setattr(calibrate, "CONFIG_DIR", str(tmp_path))
    monkeypatch.setattr(calibrate, "fit", lambda cases, processes, max_evaluations: (FITTED, []))
    monkeypatch.setattr(calibrate, "summary", lambda predictions: STATS)
    monkeypatch.setattr(calibrate, "generation_of", lambda platform: "blackwell")
    return tmp_path / "calibration"


def test_a_new_name_writes_a_new_file_and_leaves_the_default(conf):
    assert calibrate.main([str(CASES), "--name", "mine"]) == 0
    written = yaml.safe_load((conf / "mine.yaml").read_text())
    assert written["fallback"]["compute_scale"] == VALUES["compute_scale"] == written["generations"]["blackwell"]["compute_scale"]
    assert written["uncertainty"]["blackwell"]["memory_scale"] == 0.1 and written["mtp_acceptance_rate"] == FITTED["mtp_acceptance_rate"]
    assert (conf / "default.yaml").read_text() == "name: default\n# the shipped fit\n"
    assert sorted(p.name for p in conf.iterdir()) == ["default.yaml", "mine.yaml"]


def test_replacing_needs_the_flag_and_keeps_the_previous_file(conf, capsys):
    with pytest.raises(InputError, match="exists .every run uses it.; choose a new name, or pass --replace"):
        calibrate.main([str(CASES), "--name", "default"])
    assert calibrate.main([str(CASES), "--name", "default", "--replace"]) == 0
    (backup,) = conf.glob("default.yaml.*.bak")
    assert backup.read_text() == "name: default\n# the shipped fit\n"
    assert "--name default --replace" in (conf / "default.yaml").read_text()
    assert backup.name in capsys.readouterr().out


def test_factors_at_their_bounds_are_within_the_schema():
    """A fit that ends on a bound must still compose: exp(log(3)) is 3.0000000000000004."""
    from sim.base.config import compose_config
    from sim.run.deployment import build

    names = [name for name, *_ in calibrate.PARAMETERS + calibrate.SHARED]
    for side in (1, 2):  # every factor at its lower, then its upper bound
        theta = np.log([row[side] for row in calibrate.PARAMETERS + calibrate.SHARED])
        values = calibrate.factor_values(names, theta)
        assert all(lo <= values[n] <= hi for n, lo, hi, _ in calibrate.PARAMETERS + calibrate.SHARED)
        build(compose_config(*calibrate.overrides_for(values), "platform=h200", "precision=fp8", "fleet.racks=1"))
