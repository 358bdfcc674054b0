"""Shared helpers: compose configs through Hydra exactly as the command line does."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from sim.config import SimConfig, register_configs, to_sim_config

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")

#: Overrides that make any scenario small enough for a unit test.
TOY = ("workload.num_requests=60", "output.figure=false", "output.requests_csv=false", "output.print_summary=false")


def make_config(*overrides: str) -> SimConfig:
    """Compose ``conf/config.yaml`` with overrides into a typed :class:`SimConfig`."""
    register_configs()
    with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
        return to_sim_config(compose(config_name="config", overrides=list(overrides)))


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


@pytest.fixture
def tmp_out(tmp_path):
    return tmp_path
