"""The token factory simulator: what a delivered token costs on an AI inference fleet, and why."""

from sim.serving.native import select_engine

select_engine()  # the compiled engine, unless its sources changed since it was built

import sys  # noqa: E402

from sim.base import config  # noqa: E402
from sim.run.simulation import Result, build, simulate  # noqa: E402

# The schemas moved to sim.base.config; ``sim.config`` (``from sim.config import compose_config``) stays public.
sys.modules["sim.config"] = config

__all__ = ["Result", "build", "simulate"]
