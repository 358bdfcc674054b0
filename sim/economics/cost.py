"""Money: what an hour of the fleet costs, and what a delivered token costs.

Hourly cost, by ``cost.mode``:

* ``preset``: the fleet's GPUs at a $/GPU-hour of the platform (hyperscaler owning over a 4-year life,
  neocloud, 3-year rental): all-in prices, power and facility included.
* ``tco``: bottom-up. Capex per GPU (all-in system with networking) recovered over the depreciation
  years at the cost of capital (an annuity), plus yearly opex as a fraction of capex, plus the energy
  the fleet draws at the facility (PUE included) at $/kWh.

Cost per delivered token = hourly cost / delivered tokens per hour. Per request, each request is charged
its GPU-seconds share of the iterations it took part in, with idle capacity spread over requests in
proportion to that share, so the per-request costs add up to the fleet's cost over the run.
"""

from __future__ import annotations

import numpy as np

from sim.base.config import ConfigError, CostConfig
from sim.economics.power import FleetPower
from sim.spec.platform import Platform

HOURS_PER_YEAR = 8760.0


def validate_cost(cfg: CostConfig, platform: Platform) -> None:
    """The mode must be known and the preset priced for the platform (the numbers' ranges are checked on the schema)."""
    if cfg.mode not in ("preset", "tco"):
        raise ConfigError(f"cost.mode={cfg.mode!r} is unknown; use 'preset' or 'tco'")
    if cfg.mode == "preset" and cfg.preset not in platform.price_usd_per_gpu_hour:
        raise ConfigError(
            f"cost.preset={cfg.preset!r} has no price for platform {platform.name}; "
            f"use one of {sorted(platform.price_usd_per_gpu_hour)}"
        )


def capital_recovery_factor(rate: float, years: float) -> float:
    """Fraction of a capital sum to pay each year to repay it with interest over ``years``."""
    if rate == 0:
        return 1.0 / years
    growth = (1.0 + rate) ** years
    return rate * growth / (growth - 1.0)


def cost_usd_per_hour(cfg: CostConfig, platform: Platform, gpus: int, power: FleetPower) -> float:
    """The fleet's all-in hourly cost."""
    if cfg.mode == "preset":
        return gpus * platform.price_usd_per_gpu_hour[cfg.preset]
    tco = cfg.tco
    capex = tco.capex_usd_per_gpu if tco.capex_usd_per_gpu is not None else platform.capex_usd_per_gpu
    yearly = capex * (capital_recovery_factor(tco.cost_of_capital, tco.depreciation_years) + tco.opex_fraction_per_year)
    return gpus * yearly / HOURS_PER_YEAR + power.facility_kw * tco.usd_per_kwh


def request_costs_usd(gpu_s: np.ndarray, fleet_cost_usd: float) -> np.ndarray:
    """Each request's share of the fleet's cost over the run, in proportion to its GPU-seconds."""
    total = gpu_s.sum()
    if total <= 0:
        return np.zeros_like(gpu_s)
    return gpu_s * (fleet_cost_usd / total)
