"""Calibration leaves the shipped files alone: a new name writes a new file; replacing one needs --replace
and keeps the previous file beside it."""

from __future__ import annotations

import re
from dataclasses import dataclass
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
    monkeypatch.setattr(calibrate, "fit", lambda cases, processes, max_evaluations, begin=None: (FITTED, []))
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


DATA = [("b200", "deepseek_r1"), ("b200", "gpt_oss_120b"), ("h100", "llama3_70b"), ("mi355x", "deepseek_r1")]


def test_cross_validation_holds_out_what_the_data_hold():
    """No names: every generation and model with data; a platform names its generation; a name with no data is
    refused before any fit, naming what has data."""
    assert calibrate.held_out(DATA, []) == (["blackwell", "hopper", "cdna4"], ["deepseek_r1", "gpt_oss_120b", "llama3_70b"])
    assert calibrate.held_out(DATA, ["h100", "gpt_oss_120b", "hopper"]) == (["hopper"], ["gpt_oss_120b"])
    for name in ("mi300x", "mixtral_8x7b", "../b200"):
        with pytest.raises(InputError, match=rf"--cross-validate {re.escape(name)}: no case .* platforms b200, h100, mi355x; generations blackwell, cdna4, hopper"):
            calibrate.held_out(DATA, [name])
    assert calibrate.generation_of("../platform/b200") == calibrate.generation_of("no_such_gpu") == "unknown"


@dataclass
class _Case:
    platform: str
    model: str


def test_leave_one_model_out_refits_without_the_model(monkeypatch):
    """Each held-out model is predicted by a fit that never saw it, started from the full fit."""
    cases = [_Case(p, m) for p, m in DATA]
    seen = []

    def fake_fit(rest, processes, max_evaluations, log, begin):
        seen.append(({c.model for c in rest}, begin))
        return {"refit_without": {c.model for c in cases} - {c.model for c in rest}}, []

    monkeypatch.setattr(calibrate, "fit", fake_fit)
    monkeypatch.setattr(calibrate, "predict", lambda pool, members, refit: [(m.model, refit["refit_without"]) for m in members])
    monkeypatch.setattr(calibrate, "summary", lambda predictions: {"predicted": predictions})
    out = calibrate.cross_validate_models(cases, FITTED, ["deepseek_r1", "llama3_70b"], processes=1, log=lambda *_: None)
    assert [label for label, _, _ in out] == ["deepseek_r1 (fitted without it)", "llama3_70b (fitted without it)"]
    assert seen == [({"gpt_oss_120b", "llama3_70b"}, FITTED), ({"deepseek_r1", "gpt_oss_120b"}, FITTED)]
    assert out[0][1] == 2 and out[0][2]["predicted"] == [("deepseek_r1", {"deepseek_r1"})] * 2


def test_the_calibration_file_says_what_unseen_data_should_expect(tmp_path):
    """Both cross-validations' medians and the models seen are written, and a run reads them: a model the fit
    never saw is marked uncalibrated with the leave-one-model-out error."""
    from sim.base.config import compose_config
    from sim.spec.efficiency import model_error

    table = lambda *errors: [(f"x{i}", 3, {"n_simulated": 3, "median_abs_pct_err_tput": e}) for i, e in enumerate(errors)]
    path = tmp_path / "fit.yaml"
    calibrate.write_calibration(path, {**FITTED, "errors": {"blackwell": 12.0}}, "cmd", "cases.csv", STATS,
                                table(20.0, 40.0, 30.0), ["deepseek_r1"], table(25.0, 35.0))
    written = yaml.safe_load(path.read_text())
    assert written["errors"] == {"blackwell": 12.0, "uncalibrated": 30.0, "unmeasured_model": 30.0}
    assert written["models"] == ["deepseek_r1"]

    def error(*overrides):
        cfg = compose_config(*overrides)
        cfg.calibration.errors, cfg.calibration.models = {"blackwell": 12.0, "uncalibrated": 30.0, "unmeasured_model": 45.0}, ["deepseek_r1"]
        cfg.calibration.generations = {"blackwell": cfg.calibration.fallback}
        return model_error(cfg)

    assert error("platform=b200") == {"model_error_pct": 12.0, "model_calibrated": True, "model_error_basis": "fitted"}
    assert error("platform=b200", "model=llama3_70b") == {"model_error_pct": 45.0, "model_calibrated": False, "model_error_basis": "model not measured"}
    assert error("platform=h200", "precision=fp8") == {"model_error_pct": 30.0, "model_calibrated": False, "model_error_basis": "generation not measured"}
    both = error("platform=h200", "precision=fp8", "model=llama3_70b")
    assert both["model_error_pct"] == 45.0 and both["model_error_basis"] == "generation not measured and model not measured"


def test_a_cross_validation_name_without_data_is_refused_before_the_fit(conf, monkeypatch):
    monkeypatch.setattr(calibrate, "fit", lambda *a, **k: pytest.fail("fitted before checking the names"))
    with pytest.raises(InputError, match="--cross-validate mixtral_8x7b: no case .*models deepseek_r1"):
        calibrate.main([str(CASES), "--name", "mine", "--cross-validate", "b200", "mixtral_8x7b"])
    assert not (conf / "mine.yaml").exists()


def test_a_refit_starts_from_the_calibration_in_force(conf):
    """The fit is local: it continues from conf/calibration/default.yaml (a generation it lacks from its fallback)."""
    (conf / "default.yaml").write_text(yaml.safe_dump({
        "fallback": {"compute_scale": 0.5, "memory_scale": 0.9, "launch_scale": 0.2, "iteration_overhead_s": 1e-3, "attention_scale": 0.6},
        "generations": {"hopper": {"compute_scale": 0.7, "memory_scale": 0.5, "launch_scale": 1.0, "iteration_overhead_s": 2e-5}},
        "mtp_acceptance_rate": 0.7}))
    begin = calibrate.factors_in_force()
    assert calibrate.factors_of(begin, "hopper")["memory_scale"] == 0.5 and calibrate.factors_of(begin, "cdna4")["memory_scale"] == 0.9
    assert begin["attention_scale"] == 0.6 and begin["mtp_acceptance_rate"] == 0.7
    (conf / "default.yaml").write_text("name: default\n")
    assert calibrate.factors_in_force() is None  # nothing to start from: each factor's default start


class _Measured:
    def __init__(self, tput, interactivity):
        self.platform, self.tput_per_gpu, self.interactivity = "b200", tput, interactivity


class _TruePool:
    """Simulations whose errors follow known factors (compute 0.5, memory 0.9): the fit must find them."""

    def map(self, function, jobs, chunksize=1):
        from sim.fidelity.cases import Prediction

        out = []
        for case, overrides, _ in jobs:
            v = {o.split("=")[0].rsplit(".", 1)[-1]: float(o.split("=")[1]) for o in overrides if "=" in o and "fallback." in o}
            c, m = v["compute_scale"] / 0.5, v["memory_scale"] / 0.9
            out.append(Prediction(case, case.tput_per_gpu * c ** 0.7 * m ** 0.3, case.interactivity * c ** 0.2 * m ** 0.6))
        return out


def test_the_fit_finds_known_factors_and_says_when_its_budget_stopped_it():
    cases = [_Measured(1000.0, 50.0), _Measured(200.0, 120.0)]
    fixed = {"launch_scale": 0.6, "iteration_overhead_s": 5e-4, "attention_scale": 0.8, "mtp_acceptance_rate": 0.7}
    said = []
    values, _, _ = calibrate._fit_one(_TruePool(), cases, ["compute_scale", "memory_scale"], fixed, 70, "truth", said.append)
    assert values["compute_scale"] == pytest.approx(0.5, rel=0.02) and values["memory_scale"] == pytest.approx(0.9, rel=0.02)
    assert not any("before converging" in line for line in said)
    said.clear()
    calibrate._fit_one(_TruePool(), cases, ["compute_scale", "memory_scale"], fixed, 3, "short", said.append)
    assert any("stopped at its budget" in line and "--max-evaluations" in line for line in said)
