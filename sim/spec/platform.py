"""Accelerator platforms: the peak rates and capacities the performance model is built from.

A :class:`Platform` is the physics of one GPU and its surroundings: tensor-core FLOPS per data type,
HBM capacity and bandwidth, the wiring of its GPUs (:class:`sim.spec.topology.Topology`: scale-up
domains, NICs, leaves and spines), board and host power, and price presets. All rates are per GPU and in SI units.

Its measured kernels (``platform.kernels``) enter through :mod:`sim.spec.efficiency`, except how MoE experts' grouped
GEMMs compare with dense ones, which a :class:`Platform` carries as ratios: the efficiencies a run sets or draws are
the dense GEMMs', and the experts follow them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.base.bounds import refuse_implausible
from sim.base.config import ConfigError, PlatformConfig
from sim.spec.topology import Topology

#: A data type a kernel table lacks takes the figure of the nearest wider type it lists.
WIDER = {"fp4": ("fp4", "fp8", "bf16"), "fp8": ("fp8", "bf16"), "bf16": ("bf16", "fp8")}


def nearest_fraction(table: dict[str, float], dtype: str) -> float | None:
    """``table``'s figure for ``dtype`` or the nearest wider type it lists; None if it lists none."""
    for candidate in WIDER[dtype]:
        if candidate in table:
            return float(table[candidate])
    return None


def grouped_ratios(grouped: dict[str, float], dense: dict[str, float]) -> dict[str, float]:
    """Per data type, what a grouped (MoE expert) GEMM kernel achieves over a dense one of that type
    (types the grouped table does not reach: 1, as the dense GEMMs)."""
    ratios = {}
    for dtype in WIDER:
        g, d = nearest_fraction(grouped, dtype), nearest_fraction(dense, dtype)
        if g is not None and d:
            ratios[dtype] = g / d
    return ratios


def validate_platform(cfg: PlatformConfig) -> None:
    """Refuse specs that disagree with each other as no real accelerator's do (a wrong unit, a swapped
    column): lower-precision tensor cores are at least as fast as higher-precision ones, and the
    provisioned power per GPU covers the GPU and its share of the host. Each check names the key that
    ``platform.allow_implausible`` can list to accept the value deliberately."""
    if cfg.fp8_dense_tflops < cfg.bf16_dense_tflops:
        why = f"FP8 tensor cores are at least as fast as BF16 ones (bf16_dense_tflops={cfg.bf16_dense_tflops:g})"
        refuse_implausible(cfg, "platform.fp8_dense_tflops", cfg.fp8_dense_tflops, why)
    if cfg.fp4_dense_tflops is not None and cfg.fp4_dense_tflops < cfg.fp8_dense_tflops:
        why = f"FP4 tensor cores are at least as fast as FP8 ones (fp8_dense_tflops={cfg.fp8_dense_tflops:g})"
        refuse_implausible(cfg, "platform.fp4_dense_tflops", cfg.fp4_dense_tflops, why)
    if cfg.allin_power_kw_per_gpu * 1000 < cfg.tdp_w + cfg.host_power_w_per_gpu:
        refuse_implausible(
            cfg, "platform.allin_power_kw_per_gpu", cfg.allin_power_kw_per_gpu,
            f"the provisioned power per GPU (kW) covers at least its TDP and host share ({cfg.tdp_w:g} W + {cfg.host_power_w_per_gpu:g} W)",
        )


@dataclass(frozen=True)
class Platform:
    """One GPU platform, rates in SI units (FLOP/s, bytes/s, W)."""

    name: str
    memory_bytes: float
    hbm_bytes_per_s: float
    flops_per_s: dict[str, float]  # data type -> dense peak FLOP/s; absent: no tensor cores for it
    scaleup_bytes_per_s: float  # unidirectional, per GPU (the topology holds the rest of the wiring)
    scaleup_domain_gpus: int
    scaleout_bytes_per_s: float  # NIC, per GPU
    gpus_per_rack: int
    tdp_w: float
    idle_w: float
    host_w_per_gpu: float
    allin_power_kw_per_gpu: float
    capex_usd_per_gpu: float
    price_usd_per_gpu_hour: dict[str, float]
    topology: Topology
    # MoE experts' grouped GEMMs over dense GEMMs, per data type (absent: 1): by compute type at many tokens
    # per expert, by weight type at few
    grouped_compute_ratio: dict[str, float]
    grouped_weight_read_ratio: dict[str, float]

    @classmethod
    def from_config(cls, cfg: PlatformConfig) -> "Platform":
        """The platform in SI units; its numbers' ranges were checked on the schema, and here whether
        they agree with each other as real accelerators' do (see :func:`validate_platform`)."""
        validate_platform(cfg)
        flops = {"bf16": cfg.bf16_dense_tflops * 1e12, "fp8": cfg.fp8_dense_tflops * 1e12}
        if cfg.fp4_dense_tflops is not None:
            flops["fp4"] = cfg.fp4_dense_tflops * 1e12
        return cls(
            name=cfg.name,
            memory_bytes=cfg.memory_gb * 1e9,
            hbm_bytes_per_s=cfg.hbm_bw_tb_s * 1e12,
            flops_per_s=flops,
            scaleup_bytes_per_s=cfg.topology.scaleup.gpu_gb_s * 1e9,
            scaleup_domain_gpus=cfg.topology.scaleup.domain_gpus,
            scaleout_bytes_per_s=cfg.topology.scaleout.nic_gbps * 1e9 / 8,
            gpus_per_rack=cfg.gpus_per_rack,
            tdp_w=cfg.tdp_w,
            idle_w=cfg.tdp_w * cfg.idle_power_fraction,
            host_w_per_gpu=cfg.host_power_w_per_gpu,
            allin_power_kw_per_gpu=cfg.allin_power_kw_per_gpu,
            capex_usd_per_gpu=cfg.capex_usd_per_gpu,
            price_usd_per_gpu_hour=dict(cfg.price_usd_per_gpu_hour),
            topology=Topology.from_config(cfg),
            grouped_compute_ratio=grouped_ratios(cfg.kernels.grouped_gemm_fraction, cfg.kernels.gemm_fraction),
            grouped_weight_read_ratio=grouped_ratios(cfg.kernels.grouped_weight_read_fraction, cfg.kernels.weight_read_fraction),
        )

    def peak_flops(self, dtype: str) -> float:
        """Dense tensor-core peak for ``dtype``, FLOP/s per GPU; an error if the GPU has none."""
        if dtype not in self.flops_per_s:
            have = ", ".join(sorted(self.flops_per_s))
            raise ConfigError(
                f"platform {self.name} has no {dtype.upper()} tensor cores (it computes in {have}); "
                f"choose precision=fp8 or bf16, or a platform with {dtype.upper()} support "
                f"(b200, b300, gb200_nvl72, gb300_nvl72, mi355x)"
            )
        return self.flops_per_s[dtype]
