"""The efficiencies a run's performance model uses, and where each comes from.

Three sources, most specific first:

1. what the user set (``perf.*``): achieved / peak, taken as given;
2. the platform's measured kernels and collectives (``platform.kernels``, ``platform.topology``): what published
   microbenchmarks of serving kernels and collective libraries achieve on that GPU generation and fabric
   (``data/reference/kernel_ops.csv``, ``collective_ops.csv``; each value cited in the platform's YAML);
3. the calibration's serving scales for the platform's generation (``calibration.generations``, else its
   ``fallback``): how much of the kernels' figures a serving stack keeps, fitted end to end
   (``python -m sim.calibrate``; 1 means the microbenchmarks hold in serving), and the per-iteration overhead.

A GEMM computes at its widest operand's type and reads weights of the weight type: the compute fraction is
looked up by the first, the weight-read fraction by the second. A type the platform's table lacks takes the
nearest wider type's figure. The efficiencies here are the dense GEMMs'; MoE experts' grouped GEMMs run at the
platform's grouped/dense ratio of them (:class:`sim.spec.platform.Platform`), so what a run sets or draws moves both.
"""

from __future__ import annotations

from dataclasses import replace

from sim.base.config import ConfigError, KernelConfig, SimConfig
from sim.spec.platform import nearest_fraction
from sim.spec.precision import Precision


def kernel_fraction(table: dict[str, float], dtype: str, what: str, platform: str) -> float:
    """The platform's fraction for ``dtype`` (or the nearest wider type it lists)."""
    found = nearest_fraction(table, dtype)
    if found is not None:
        return found
    raise ConfigError(
        f"platform.kernels.{what} of {platform} lists no {dtype} (has {sorted(table) or 'nothing'}); add platform.kernels.{what}.{dtype}"
    )


def served_efficiencies(kernels: KernelConfig, precision: Precision, scales, platform: str) -> dict[str, float]:
    """Achieved / peak of the GEMMs, attention and HBM streams in serving: the kernels' fractions times the
    calibration's scales. A serving stack keeps at most what its GEMM and attention kernels reach alone (their
    scales count up to 1); HBM streams may beat the measured kernels (production kernels read better than some
    benchmarked ones), up to the peak."""
    return {
        "compute_efficiency": kernel_fraction(kernels.gemm_fraction, precision.compute_dtype, "gemm_fraction", platform) * min(1.0, scales.compute_scale),
        "weight_read_efficiency": min(1.0, kernel_fraction(kernels.weight_read_fraction, precision.weight_dtype, "weight_read_fraction", platform) * scales.memory_scale),
        "memory_efficiency": min(1.0, kernels.stream_fraction * scales.memory_scale),
        "attention_efficiency": kernels.attention_fraction * min(1.0, scales.attention_scale),
    }


def calibrated(cfg: SimConfig) -> SimConfig:
    """The configuration with every efficiency, latency and acceptance rate left at None filled in: from the
    platform's measured kernels and fabric, scaled by the calibration of its generation."""
    scales = cfg.calibration.generations.get(cfg.platform.generation, cfg.calibration.fallback)
    topology = cfg.platform.topology
    precision = Precision.from_config(cfg.precision)
    found = served_efficiencies(cfg.platform.kernels, precision, scales, cfg.platform.name) if cfg.perf.kind == "roofline" else {}
    found.update(
        alltoall_scaleup_efficiency=topology.scaleup.alltoall_efficiency,
        alltoall_scaleout_efficiency=topology.scaleout.alltoall_efficiency,
        allreduce_scaleup_efficiency=topology.scaleup.allreduce_efficiency,
        allreduce_scaleout_efficiency=topology.scaleout.allreduce_efficiency,
        collective_latency_s=0.0,
        iteration_overhead_s=scales.iteration_overhead_s,
        kernel_floor_s=cfg.platform.kernels.kernel_floor_s * scales.launch_scale,
    )
    perf = replace(cfg.perf, **{key: value for key, value in found.items() if getattr(cfg.perf, key) is None})
    spec = cfg.engine.speculative
    if spec.acceptance_rate is None:
        spec = replace(spec, acceptance_rate=cfg.calibration.mtp_acceptance_rate)
    return replace(cfg, perf=perf, engine=replace(cfg.engine, speculative=spec))


def model_error(cfg: SimConfig) -> dict:
    """How far the performance model is expected to be off for this run: the median |error| of throughput per GPU
    on its generation's own measurements when the calibration fitted that generation and saw the model
    (``model_calibrated``); else what the cross-validation found for data the fit did not see: a generation
    predicted with another's factors, a model by a fit without it (the larger where both are unseen).
    ``model_error_basis`` says which. None: the calibration does not say (an uncalibrated file)."""
    c = cfg.calibration
    generation_seen = cfg.platform.generation in c.generations
    model_seen = not c.models or cfg.model.name in c.models
    if generation_seen and model_seen:
        return {"model_error_pct": c.errors.get(cfg.platform.generation), "model_calibrated": True, "model_error_basis": "fitted"}
    unseen = ([] if generation_seen else [("generation", c.errors.get("uncalibrated"))]) + ([] if model_seen else [("model", c.errors.get("unmeasured_model"))])
    known = [e for _, e in unseen if e is not None]
    basis = " and ".join(f"{what} not measured" for what, _ in unseen)
    return {"model_error_pct": max(known) if known else None, "model_calibrated": False, "model_error_basis": basis}
