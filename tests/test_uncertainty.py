"""Uncertain inputs: a reproducible Latin hypercube, distributions checked before any run (sim/run/uncertainty.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.base.config import ConfigError, UncertainInputConfig, UncertaintyConfig
from sim.run.simulation import build, simulate
from sim.run.uncertainty import design
from tests.conftest import TOY, make_config


def study(samples=16, seed=0, **inputs) -> UncertaintyConfig:
    return UncertaintyConfig(name="test", samples=samples, seed=seed, inputs={k: UncertainInputConfig(**v) for k, v in inputs.items()})


def test_the_design_is_a_latin_hypercube_reproducible_from_the_study_seed():
    unc = study(20, 7, a={"key": "cost.pue", "low": 1.0, "high": 2.0}, b={"key": "cost.pue", "low": 1.0, "high": 2.0})
    first, again, other = design(unc), design(unc), design(study(20, 8, **{k: vars(v) for k, v in unc.inputs.items()}))
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["a"], other["a"])
    for column in first.values():  # one value in each of the 20 equal strata
        assert sorted(np.floor((column - 1.0) * 20).astype(int)) == list(range(20))


def test_the_distributions_have_their_quantiles():
    unc = study(4000, 1, tri={"key": "cost.pue", "kind": "triangular", "low": 1.0, "mode": 1.2, "high": 2.0},
                logn={"key": "cost.pue", "kind": "lognormal", "median": 0.1, "sigma": 0.5})
    values = design(unc)
    assert np.mean(values["tri"]) == pytest.approx((1.0 + 1.2 + 2.0) / 3, rel=1e-3)  # the triangle's mean
    assert np.median(values["logn"]) == pytest.approx(0.1, rel=1e-2)
    assert np.std(np.log(values["logn"])) == pytest.approx(0.5, rel=1e-2)


def test_a_run_takes_its_row_and_reports_the_values_drawn():
    overrides = (*TOY, "platform=h200", "precision=fp8", "uncertainty=prices", "uncertainty.sample=5")
    cfg = make_config(*overrides)
    drawn = {name: float(values[5]) for name, values in design(cfg.uncertainty).items()}
    dep = build(cfg)
    assert dep.sampled == pytest.approx(drawn)
    assert dep.cfg.workload.load_fraction == pytest.approx(drawn["demand"])
    base = build(make_config(*TOY, "platform=h200", "precision=fp8"))
    for preset, price in base.cfg.platform.price_usd_per_gpu_hour.items():  # relative: every preset scaled
        assert dep.cfg.platform.price_usd_per_gpu_hour[preset] == pytest.approx(price * drawn["gpu_price_factor"])
    assert dep.cfg.perf.compute_efficiency == pytest.approx(base.cfg.perf.compute_efficiency * drawn["compute_efficiency_factor"])
    metrics = simulate(cfg).metrics
    assert metrics["sampled_demand"] == pytest.approx(drawn["demand"]) and metrics["uncertainty"] == "prices"


@pytest.mark.parametrize(
    "override, message",
    [
        ("uncertainty.inputs.gpu_price_factor.kind=beta", "kind='beta' is not a distribution: use one of uniform, triangular, lognormal"),
        ("uncertainty.inputs.gpu_price_factor.low=1.1", "mode=1.0 must lie between low=1.1 and high=1.25"),
        ("uncertainty.inputs.demand.low=0.99", "low=0.99 must be below high=0.95"),
        ("uncertainty.inputs.gpu_price_factor.low=-0.2", "uncertainty.inputs.gpu_price_factor.low=-0.2 is not allowed"),
        (("uncertainty.inputs.demand.key=workload.slo.min_attainment", "uncertainty.inputs.demand.high=1.5"),
         "uncertainty.inputs.demand drew workload.slo.min_attainment=1.4"),
        ("uncertainty.inputs.demand.key=cost.pues", "uncertainty.inputs.demand.key=cost.pues is not a configuration key"),
        ("uncertainty.inputs.demand.key=fleet.racks", "is a whole number"),
        ("+uncertainty.inputs.gpu_price_factor.sigma=0.3", "uncertainty.inputs.gpu_price_factor.sigma means nothing to a triangular distribution"),
        ("uncertainty.inputs.compute_efficiency_factor.key=calibration.fallback.compute_scale",
         "would change nothing; use perf.compute_efficiency instead"),
        ("uncertainty.sample=16", "uncertainty.sample=16 is not a row of the design of 16 samples"),
        ("uncertainty.inputs.demand.high=null", "a uniform distribution needs low, high; set uncertainty.inputs.demand.high"),
    ],
)
def test_impossible_distributions_are_refused_before_any_event(override, message):
    override = override if isinstance(override, tuple) else (override,)
    cfg = make_config(*TOY, "platform=h200", "precision=fp8", "uncertainty=prices", "uncertainty.sample=0", *override)
    with pytest.raises(ConfigError) as err:
        build(cfg)
    assert message in str(err.value)


def test_an_uncertain_input_can_be_added_on_the_command_line(tmp_path, monkeypatch):
    """The + form Hydra recommends works (each entry is typed by UncertainInputConfig after composition), through
    the guard of the real command line too, and a misspelt field is named."""
    from sim.run.cli import main as cli_main
    from sim.run.guard import check_command_line

    added = ("+uncertainty.inputs.pue.key=cost.pue", "+uncertainty.inputs.pue.low=1.1", "+uncertainty.inputs.pue.high=1.5",
             "uncertainty.samples=4", "uncertainty.sample=2")
    cfg = make_config(*TOY, "platform=h200", "precision=fp8", *added)
    assert cfg.uncertainty.inputs["pue"] == UncertainInputConfig(key="cost.pue", low=1.1, high=1.5)
    assert build(cfg).cfg.cost.pue == pytest.approx(float(design(cfg.uncertainty)["pue"][2]))
    monkeypatch.chdir(tmp_path)
    check_command_line([*TOY, *added], cli_main.__wrapped__)
    with pytest.raises(ConfigError, match="uncertainty.inputs.pue.hihg: Key 'hihg' not in 'UncertainInputConfig'"):
        make_config(*TOY, *added[:2], "+uncertainty.inputs.pue.hihg=1.5")
