"""Every config in conf/ composes and runs at toy size; bad input is refused with a useful message."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException

from sim.base.config import CONFIG_DIR, Bounds, ConfigError
from sim.run.metrics import REQUIRED_KEYS
from sim.run.simulation import build, simulate
from tests.conftest import TOY, make_config


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


# A precision and a worker size each model fits with on every platform.
FITS = {
    "deepseek_r1": ("precision=fp8", "worker.tp=8"),
    "llama3_405b": ("precision=fp8", "worker.tp=8"),
    "qwen3_235b": ("precision=fp8", "worker.tp=4"),
}


@pytest.mark.parametrize("platform", options("platform"))
def test_every_platform_runs(platform):
    m = simulate(make_config(*TOY, f"platform={platform}", "model=llama3_70b", "precision=fp8", "worker.tp=4")).metrics
    assert m["requests_completed"] == 60 and m["tput_per_gpu_tok_s"] > 0


@pytest.mark.parametrize("model", options("model"))
def test_every_model_runs(model):
    extra = FITS.get(model, ("precision=fp8", "worker.tp=2"))
    m = simulate(make_config(*TOY, "platform=b200", f"model={model}", *extra)).metrics
    assert m["requests_completed"] == 60


@pytest.mark.parametrize("precision", options("precision"))
def test_every_precision_runs(precision):
    m = simulate(make_config(*TOY, "platform=b200", f"precision={precision}", "model=llama3_70b", "worker.tp=4")).metrics
    assert m["requests_completed"] == 60


@pytest.mark.parametrize("workload", options("workload"))
def test_every_workload_runs(workload):
    cfg = make_config(*TOY, f"workload={workload}", "workload.num_requests=30")
    if cfg.workload.warmup_requests is not None:  # a fixed warm-up (benchmark mode): a toy run needs a short one
        cfg = make_config(*TOY, f"workload={workload}", "workload.num_requests=30", "workload.concurrency=5", "workload.warmup_requests=5")
    m = simulate(cfg).metrics
    assert m["requests_total"] == 30 and m["requests_in_flight"] == 0
    assert 0 < m["requests_completed"] <= 30 if cfg.workload.steady_state else m["requests_completed"] == 30
    assert set(REQUIRED_KEYS) <= set(m)


@pytest.mark.parametrize("cost", options("cost"))
def test_every_cost_model_runs(cost):
    m = simulate(make_config(*TOY, f"cost={cost}")).metrics
    assert m["cost_usd_per_hour"] > 0 and m["cost_usd_per_mtok"] > 0


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes_and_runs(experiment):
    m = simulate(make_config(f"+experiment={experiment}", *TOY)).metrics
    assert m["requests_completed"] == 60


@pytest.mark.parametrize(
    "overrides, words",
    [
        (("platform=h200",), ["no FP4 tensor cores", "precision=fp8"]),
        (("platform=h200", "precision=fp8", "worker.tp=4"), ["does not fit", "168.2 GB", "worker.tp=8"]),
        (("model=llama3_70b", "platform=h100", "precision=bf16", "worker.tp=2"), ["does not fit", "worker.tp=4"]),
        (("workload.load_fraction=null", "workload.rate_rps=-2"), ["rate_rps=-2.0", "must be > 0"]),
        (("workload.load_fraction=0",), ["load_fraction=0.0", "must be in (0, 100]"]),
        (("workload.output_tokens=0",), ["output_tokens=0", "must be in [1, "]),
        (("workload.slo.tpot_s=0",), ["workload.slo.tpot_s=0.0", "must be > 0 s"]),
        (("workload.arrival=bursty",), ["bursty", "poisson"]),
        (("workload=benchmark", "workload.num_requests=100", "workload.concurrency=64"), ["warmup_requests=64", "no steady state"]),
        (("workload.input_tokens=200000",), ["exceeds", "128000-token context"]),
        (("model=llama2_70b", "workload=summarise"), ["4096-token context"]),
        (
            ("model=llama3_70b", "platform=h100", "precision=fp8", "engine.gpu_memory_utilization=0.18", "workload.input_tokens=100000"),
            ["KV cache", "holds"],
        ),
        (("seed=-1",), ["seed=-1"]),
        (("workload.length_dist=lognormal", "workload.lognormal_sigma=200"), ["lognormal_sigma"]),
        (("workload.arrival=closed_loop",), ["closed-loop", "rate_rps=null"]),
        (("workload=closed_loop", "fleet.max_queue_per_worker=5"), ["max_queue_per_worker=0"]),
        (("model.layers=0",), ["model.layers=0"]),
        (("model.top_k=300",), ["top_k=300"]),
        (("model=gpt_oss_120b", "precision=fp8", "model.sliding_window_layers=40"), ["sliding_window_layers=40"]),
        (("platform.host_power_w_per_gpu=-5000",), ["host_power_w_per_gpu"]),
        (("model=llama3_70b", "precision=fp8", "worker.tp=3"), ["worker.tp=3", "KV heads"]),
        (("fleet.racks=0",), ["fleet.racks=0"]),
        (("worker.tp=5",), ["worker.tp=5", "128 attention heads"]),
        (("worker.ep=3",), ["worker.ep=3", "must divide worker.tp"]),
        (("platform=h100", "model=llama3_70b", "precision=fp8", "worker.tp=16"), ["8 GPUs", "fleet.racks to 2"]),
        (("cost.preset=spot",), ["spot", "hyperscaler_owning"]),
        (("engine.max_tokens_per_iteration=64",), ["max_batch_size"]),
        (("perf.kind=magic",), ["magic", "roofline"]),
    ],
)
def test_bad_input_is_refused_before_simulating(overrides, words):
    with pytest.raises(ConfigError) as err:
        simulate(make_config(*TOY, *overrides))
    for word in words:
        assert word in str(err.value)


def test_unknown_names_and_typos_are_refused_by_hydra():
    with pytest.raises(MissingConfigException, match="platform/tpu9"):
        make_config("platform=tpu9")
    with pytest.raises(MissingConfigException, match="model/gpt5"):
        make_config("model=gpt5")
    with pytest.raises(ConfigCompositionException, match="rackz"):
        make_config("fleet.rackz=2")
    with pytest.raises(ConfigCompositionException):
        make_config("fleet.racks=two")


def test_gpt_oss_runs_its_mxfp4_weights_on_a_gpu_without_fp4_tensor_cores():
    """Weight-only MXFP4: 4.5-bit weights in HBM, GEMMs at the BF16 rate, so H100 serves it; FP4 compute is refused."""
    m = simulate(make_config(*TOY, "platform=h100", "model=gpt_oss_120b", "precision=mxfp4", "worker.tp=1")).metrics
    assert m["requests_completed"] == 60
    with pytest.raises(ConfigError, match="no FP4 tensor cores"):
        simulate(make_config(*TOY, "platform=h100", "model=gpt_oss_120b", "precision=fp4", "worker.tp=1"))


@pytest.mark.parametrize(
    "override",
    [
        "perf.collective_latency_s=nan", "perf.iteration_overhead_s=inf", "cost.pue=nan", "cost.pue=inf",
        "cost.tco.usd_per_kwh=nan", "cost.tco.cost_of_capital=nan", "platform.host_power_w_per_gpu=nan",
        "workload.rate_rps=inf", "platform.price_usd_per_gpu_hour.neocloud=-inf", "calibration.fallback.memory_scale=nan",
    ],
)
def test_nan_and_infinity_are_refused_everywhere_naming_the_key(override):
    key = override.split("=")[0]
    extra = ("workload.load_fraction=null",) if key == "workload.rate_rps" else ()
    with pytest.raises(ConfigError, match=f"{key}=.*is not allowed"):
        build(make_config(*TOY, *extra, override))


def test_bounds_describe_and_check_their_range():
    assert Bounds(0, 1, low_open=True).describe() == "in (0, 1]"
    assert Bounds(1, unit="x").describe() == ">= 1 x" and Bounds().describe() == "a finite number"
    unit_interval = Bounds(0, 1, low_open=True)
    assert [unit_interval.allows(v) for v in (0.0, 1e-9, 1.0, 1.1, math.nan, math.inf)] == [False, True, True, False, False, False]
    no_limit = Bounds(0, inf_is_no_limit=True)
    assert no_limit.allows(math.inf) and not no_limit.allows(-math.inf) and not no_limit.allows(-1)


def test_the_documented_python_entry_points_still_import_from_their_old_names():
    """``sim.config.compose_config`` and ``sim.simulate`` are public (README "Using it"): the schemas moved to
    ``sim.base.config``, and ``sim.config`` is that same module, in a fresh interpreter too."""
    import subprocess
    import sys

    import sim
    import sim.base.config
    import sim.config

    assert sim.config is sim.base.config and sim.simulate is simulate
    code = "from sim.config import compose_config; import sim; print(type(compose_config('platform=h200')).__module__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "sim.base.config"
