"""Power: what the fleet draws.

A GPU draws between its idle power and its TDP in proportion to the fraction of time its worker is busy;
the rest of the system (CPUs, NICs, switches, fans) adds a fixed draw per GPU; the facility multiplies the
IT load by its PUE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.spec.platform import Platform


@dataclass(frozen=True)
class FleetPower:
    """Average power over the run, kW."""

    gpu_kw: float
    it_kw: float  # GPUs plus the rest of the systems
    facility_kw: float  # IT times PUE


def fleet_power(platform: Platform, busy_fraction_per_gpu: np.ndarray, pue: float) -> FleetPower:
    """Average draw of GPUs busy the given fractions of the time (idle GPUs: fraction 0)."""
    gpu_w = platform.idle_w + (platform.tdp_w - platform.idle_w) * np.asarray(busy_fraction_per_gpu)
    gpu_kw = float(gpu_w.sum()) / 1000
    it_kw = gpu_kw + platform.host_w_per_gpu * len(gpu_w) / 1000
    return FleetPower(gpu_kw, it_kw, it_kw * pue)
