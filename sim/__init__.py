"""The token factory simulator: what a delivered token costs on an AI inference fleet, and why."""

from sim.serving.native import select_engine

select_engine()  # the compiled engine, unless its sources changed since it was built

from sim.simulation import Result, build, simulate  # noqa: E402

__all__ = ["Result", "build", "simulate"]
