"""Uncertain inputs: what a planner does not know exactly (prices, PUE, power, efficiencies, demand),
given as distributions and sampled per run with a Latin hypercube.

A study declares its uncertain inputs in ``conf/uncertainty/`` (:class:`sim.base.config.UncertaintyConfig`):
each names a numeric configuration key and a distribution, ``uniform`` (low, high), ``triangular``
(low, mode, high) or ``lognormal`` (median, sigma); a ``relative`` input is a factor on the configured
value (``platform.price_usd_per_gpu_hour`` x U(0.8, 1.2) scales every price of the platform). The
design is a Latin hypercube of ``samples`` rows (``scipy.stats.qmc``) drawn from the study's
``seed``, the inputs in the order of their names: every configuration of the study sees the same rows,
and a run takes row ``sample``. Sweeping ``uncertainty.sample=range(0,N)`` with a set of
configurations and seeds gives the cost's distribution, and which input drives it.
"""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass, replace
from typing import Any

import numpy as np

from sim.base.bounds import Bounds
from sim.base.config import ConfigError, SimConfig, UncertainInputConfig, UncertaintyConfig

#: The parameters each kind of distribution needs.
KINDS = {"uniform": ("low", "high"), "triangular": ("low", "mode", "high"), "lognormal": ("median", "sigma")}


def check_input(name: str, spec: UncertainInputConfig) -> None:
    """Refuse a distribution that cannot be drawn from, naming the input and the fix."""
    where = f"uncertainty.inputs.{name}"
    if spec.key.startswith("calibration."):
        factor = spec.key.rsplit(".", 1)[-1]
        instead = {"compute_scale": "compute_efficiency", "attention_scale": "attention_efficiency", "memory_scale": "memory_efficiency",
                   "launch_scale": "kernel_floor_s"}.get(factor, factor)
        raise ConfigError(
            f"{where}.key={spec.key}: the calibration fills the efficiencies in before uncertain inputs are drawn, so this would "
            f"change nothing; use perf.{instead} instead (relative=true scales the calibrated value)"
        )
    if spec.kind not in KINDS:
        raise ConfigError(f"{where}.kind={spec.kind!r} is not a distribution: use one of {', '.join(KINDS)}")
    needed = KINDS[spec.kind]
    missing = [p for p in needed if getattr(spec, p) is None]
    if missing:
        raise ConfigError(f"{where}: a {spec.kind} distribution needs {', '.join(needed)}; set {where}.{missing[0]}")
    extra = [p for p in ("low", "high", "mode", "median", "sigma") if p not in needed and getattr(spec, p) is not None]
    if extra:
        raise ConfigError(f"{where}.{extra[0]} means nothing to a {spec.kind} distribution (it takes {', '.join(needed)}); remove it")
    values = {p: getattr(spec, p) for p in needed}
    for p, v in values.items():
        if not math.isfinite(v) or v < 0:
            raise ConfigError(
                f"{where}.{p}={v} is not allowed: the uncertain inputs are prices, powers, efficiencies, loads "
                "and factors, never negative; give a finite value >= 0"
            )
    if spec.kind in ("uniform", "triangular") and not spec.low < spec.high:
        raise ConfigError(f"{where}: low={spec.low} must be below high={spec.high}; swap or widen them")
    if spec.kind == "triangular" and not spec.low <= spec.mode <= spec.high:
        raise ConfigError(f"{where}: mode={spec.mode} must lie between low={spec.low} and high={spec.high}")
    if spec.kind == "lognormal" and not (spec.median > 0 and 0 < spec.sigma <= 3):
        raise ConfigError(f"{where}: a lognormal needs median > 0 and sigma in (0, 3] (got median={spec.median}, sigma={spec.sigma})")


def quantile(spec: UncertainInputConfig, u: np.ndarray) -> np.ndarray:
    """The values of the distribution at probabilities ``u`` in [0, 1) (its inverse CDF)."""
    from scipy import stats

    if spec.kind == "uniform":
        return spec.low + u * (spec.high - spec.low)
    if spec.kind == "triangular":
        width = spec.high - spec.low
        return stats.triang.ppf(u, (spec.mode - spec.low) / width, loc=spec.low, scale=width)
    return spec.median * np.exp(spec.sigma * stats.norm.ppf(u))


def design(unc: UncertaintyConfig) -> dict[str, np.ndarray]:
    """The study's Latin hypercube: per input (by name), its ``samples`` values, row by row."""
    from scipy.stats import qmc

    names = sorted(unc.inputs)
    for name in names:
        check_input(name, unc.inputs[name])
    if not names:
        return {}
    rng = np.random.default_rng(np.random.SeedSequence(unc.seed))
    try:
        sampler = qmc.LatinHypercube(d=len(names), rng=rng)
    except TypeError:  # SciPy before 1.15 calls it seed
        sampler = qmc.LatinHypercube(d=len(names), seed=rng)
    u = sampler.random(unc.samples)
    return {name: quantile(unc.inputs[name], u[:, i]) for i, name in enumerate(names)}


def _field(node: Any, name: str):
    for f in fields(node):
        if f.name == name:
            return f
    return None


def _set(node: Any, path: list[str], value: float, relative: bool, key: str, name: str) -> Any:
    """``node`` with the number at ``path`` set to ``value`` (or multiplied by it), its range checked."""
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        if not rest and head in node:
            return {**node, head: _number(node[head], value, relative, key, name, Bounds())}
        if head not in node:
            raise ConfigError(f"uncertainty.inputs.{name}.key={key}: {head!r} is not among {sorted(node)}")
        return {**node, head: _set(node[head], rest, value, relative, key, name)}
    f = _field(node, head) if is_dataclass(node) else None
    if f is None:
        raise ConfigError(f"uncertainty.inputs.{name}.key={key} is not a configuration key; name a number, e.g. cost.pue")
    current = getattr(node, head)
    if rest:
        return replace(node, **{head: _set(current, rest, value, relative, key, name)})
    if isinstance(current, dict):  # a relative factor on every entry, e.g. every price of the platform
        if not relative:
            raise ConfigError(f"uncertainty.inputs.{name}.key={key} holds several values: set relative=true to scale them all")
        return replace(node, **{head: {k: _number(v, value, True, f"{key}.{k}", name, Bounds()) for k, v in current.items()}})
    return replace(node, **{head: _number(current, value, relative, key, name, f.metadata.get("bounds", Bounds()))})


def _number(current: Any, value: float, relative: bool, key: str, name: str, bounds: Bounds) -> float:
    if isinstance(current, bool) or (current is not None and not isinstance(current, (int, float))):
        raise ConfigError(f"uncertainty.inputs.{name}.key={key} is not a number")
    if isinstance(current, int):
        raise ConfigError(f"uncertainty.inputs.{name}.key={key} is a whole number; uncertain inputs set real-valued keys")
    if relative:
        if current is None:
            raise ConfigError(f"uncertainty.inputs.{name}.key={key} has no value to scale; give absolute values (relative=false)")
        value = current * value
    if not bounds.allows(float(value)) or value < 0:
        raise ConfigError(
            f"uncertainty.inputs.{name} drew {key}={value:.6g}, outside its range ({bounds.describe()}): "
            "narrow the distribution"
        )
    return float(value)


def apply_uncertainty(cfg: SimConfig) -> tuple[SimConfig, dict[str, float]]:
    """The configuration of this run's row of the design (``uncertainty.sample``), and the values drawn
    (by input name). Run after the calibration, so a relative efficiency scales the calibrated one."""
    unc = cfg.uncertainty
    if not unc.inputs:
        return cfg, {}
    if not unc.sample < unc.samples:
        raise ConfigError(
            f"uncertainty.sample={unc.sample} is not a row of the design of {unc.samples} samples: "
            f"use 0 to {unc.samples - 1} (e.g. uncertainty.sample=range(0,{unc.samples}))"
        )
    values = design(unc)
    for name, column in values.items():  # every row must fit the key's range, not only this one
        spec = unc.inputs[name]
        for extreme in (column.min(), column.max()):
            _set(cfg, spec.key.split("."), float(extreme), spec.relative, spec.key, name)
    drawn = {name: float(column[unc.sample]) for name, column in values.items()}
    for name, value in drawn.items():
        spec = unc.inputs[name]
        cfg = _set(cfg, spec.key.split("."), value, spec.relative, spec.key, name)
    return cfg, drawn
