"""Shared helpers: compose configs through Hydra exactly as the command line does."""

from __future__ import annotations

from sim.base.config import SimConfig
from sim.base.config import compose_config as make_config  # noqa: F401  (the tests' name for it)

#: Overrides that make any scenario small enough for a unit test.
TOY = ("workload.num_requests=60", "output.figure=false", "output.requests_csv=false", "output.print_summary=false")


def queue_config(*overrides: str) -> SimConfig:
    """A worker as a single-server queue: constant service time, batch size 1, one-token requests.

    Each request is served by exactly one iteration of ``perf.constant_iteration_s`` seconds (its
    prefill samples its only output token), so one worker under Poisson arrivals is an M/D/1 queue.
    """
    base = (
        "platform=h100",
        "model=llama3_70b",
        "precision=fp8",
        "worker.tp=8",
        "perf.kind=constant",
        "perf.constant_iteration_s=1.0",
        "engine.max_batch_size=1",
        "engine.max_tokens_per_iteration=16",
        "workload.length_dist=fixed",
        "workload.input_tokens=8",
        "workload.output_tokens=1",
        "workload.load_fraction=null",
    )
    return make_config(*base, *overrides)


def run_sim(*args: str, check: bool = True, module: str = "sim", env: dict | None = None, timeout: float = 600):
    """``python -m sim ARGS`` (or another ``python -m sim.X``) in a subprocess, from the repository root."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, "-m", module, *args], check=check, cwd=root, capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=timeout,
    )
