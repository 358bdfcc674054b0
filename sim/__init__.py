"""The token factory simulator: what a delivered token costs on an AI inference fleet, and why."""

from sim.simulation import Result, build, simulate

__all__ = ["Result", "build", "simulate"]
