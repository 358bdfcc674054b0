"""Accelerator platforms: the peak rates and capacities the performance model is built from.

A :class:`Platform` is the physics of one GPU and its surroundings: tensor-core FLOPS per data type,
HBM capacity and bandwidth, the scale-up fabric (NVLink, Infinity Fabric) and its domain size, the
scale-out NIC, board and host power, and price presets. All rates are per GPU and in SI units.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.config import ConfigError, PlatformConfig


@dataclass(frozen=True)
class Platform:
    """One GPU platform, rates in SI units (FLOP/s, bytes/s, W)."""

    name: str
    memory_bytes: float
    hbm_bytes_per_s: float
    flops_per_s: dict[str, float]  # data type -> dense peak FLOP/s; absent: no tensor cores for it
    scaleup_bytes_per_s: float  # unidirectional, per GPU
    scaleup_domain_gpus: int
    scaleout_bytes_per_s: float  # per GPU
    gpus_per_rack: int
    tdp_w: float
    idle_w: float
    host_w_per_gpu: float
    allin_power_kw_per_gpu: float
    capex_usd_per_gpu: float
    price_usd_per_gpu_hour: dict[str, float]

    @classmethod
    def from_config(cls, cfg: PlatformConfig) -> "Platform":
        positive = {
            "memory_gb": cfg.memory_gb,
            "hbm_bw_tb_s": cfg.hbm_bw_tb_s,
            "bf16_dense_tflops": cfg.bf16_dense_tflops,
            "fp8_dense_tflops": cfg.fp8_dense_tflops,
            "scaleup_bw_gb_s": cfg.scaleup_bw_gb_s,
            "scaleup_domain_gpus": cfg.scaleup_domain_gpus,
            "scaleout_bw_gbps": cfg.scaleout_bw_gbps,
            "gpus_per_rack": cfg.gpus_per_rack,
            "tdp_w": cfg.tdp_w,
        }
        for key, value in positive.items():
            if not value > 0:
                raise ConfigError(f"platform.{key}={value} must be positive (platform {cfg.name})")
        if not 0 <= cfg.idle_power_fraction <= 1:
            raise ConfigError(f"platform.idle_power_fraction={cfg.idle_power_fraction} must be in [0, 1]")
        if cfg.host_power_w_per_gpu < 0 or not cfg.allin_power_kw_per_gpu > 0 or not cfg.capex_usd_per_gpu > 0:
            raise ConfigError(
                "platform.host_power_w_per_gpu must be >= 0, platform.allin_power_kw_per_gpu and "
                f"platform.capex_usd_per_gpu positive (platform {cfg.name})"
            )
        for preset, price in cfg.price_usd_per_gpu_hour.items():
            if not price > 0:
                raise ConfigError(f"platform.price_usd_per_gpu_hour.{preset}={price} must be positive")
        flops = {"bf16": cfg.bf16_dense_tflops * 1e12, "fp8": cfg.fp8_dense_tflops * 1e12}
        if cfg.fp4_dense_tflops is not None:
            flops["fp4"] = cfg.fp4_dense_tflops * 1e12
        return cls(
            name=cfg.name,
            memory_bytes=cfg.memory_gb * 1e9,
            hbm_bytes_per_s=cfg.hbm_bw_tb_s * 1e12,
            flops_per_s=flops,
            scaleup_bytes_per_s=cfg.scaleup_bw_gb_s * 1e9,
            scaleup_domain_gpus=cfg.scaleup_domain_gpus,
            scaleout_bytes_per_s=cfg.scaleout_bw_gbps * 1e9 / 8,
            gpus_per_rack=cfg.gpus_per_rack,
            tdp_w=cfg.tdp_w,
            idle_w=cfg.tdp_w * cfg.idle_power_fraction,
            host_w_per_gpu=cfg.host_power_w_per_gpu,
            allin_power_kw_per_gpu=cfg.allin_power_kw_per_gpu,
            capex_usd_per_gpu=cfg.capex_usd_per_gpu,
            price_usd_per_gpu_hour=dict(cfg.price_usd_per_gpu_hour),
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

    def link_bytes_per_s(self, worker_gpus: int) -> float:
        """Per-GPU bandwidth of the slowest link a worker of ``worker_gpus`` GPUs must cross."""
        if worker_gpus <= self.scaleup_domain_gpus:
            return self.scaleup_bytes_per_s
        return self.scaleout_bytes_per_s
