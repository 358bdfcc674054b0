"""Configuration schemas of the token factory, and the checks run before any simulation.

Every Hydra config group (``conf/platform``, ``conf/model``, ``conf/precision``, ``conf/workload``,
``conf/cost``) is typed by one dataclass here. The root schema :class:`SimConfig` is registered in
Hydra's ConfigStore as ``base_config``, so a misspelt key or a value of the wrong type is rejected by
Hydra while composing, with its own message. Checks that need physics (does the model fit on a
worker? does the platform have FP4 tensor cores?) live in :func:`sim.simulation.build` and raise
:class:`ConfigError` before the first event is scheduled.

Past the command line the simulator only sees these plain dataclasses, never a ``DictConfig``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, OmegaConf

#: The Hydra config folder shipped with the project.
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


class ConfigError(ValueError):
    """A configuration that cannot be simulated, with a message that says how to fix it."""


@dataclass(frozen=True)
class Bounds:
    """The values a numeric field may take: declared on the schema, checked by :func:`check_bounds`
    before any simulation, so a new field is checked by declaring its range, not by remembering an if.

    ``low``/``high``: the range (None: unbounded on that side), each end included unless ``low_open`` /
    ``high_open``. ``inf_is_no_limit``: ``inf`` is accepted and means "no limit" (documented on the field);
    otherwise NaN and ±inf are refused everywhere. ``unit`` and ``hint`` make the message.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    inf_is_no_limit: bool = False
    unit: str = ""
    hint: str = ""

    def describe(self) -> str:
        """The allowed range in words, e.g. ``in (0, 1]`` or ``>= 1``."""
        unit = f" {self.unit}" if self.unit else ""
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}{unit}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}{unit}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {self.high:g}{unit}"
        return "a finite number"

    def allows(self, value: float) -> bool:
        if math.isnan(value) or (math.isinf(value) and not (self.inf_is_no_limit and value > 0)):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or math.isinf(value) or not (value > self.high or (self.high_open and value == self.high))


def bounded(default: Any, low: float | None = None, high: float | None = None, **options: Any) -> Any:
    """A schema field whose values must lie in a range (see :class:`Bounds`), e.g.
    ``pue: float = bounded(1.3, 1.0, 3.0, unit="(facility / IT power)")``."""
    return field(default=default, metadata={"bounds": Bounds(low, high, **options)})


def positive(default: Any, **options: Any) -> Any:
    """A schema field that must be > 0 (a size, a rate, a bandwidth)."""
    return bounded(default, 0, low_open=True, **options)


def check_bounds(node: Any, path: str = "") -> None:
    """Refuse, naming the key, the value, the allowed range and the fix: any number outside the
    :class:`Bounds` declared on its field, and any NaN or infinity anywhere in the configuration (in
    nested schemas and in the values of dicts too), unless its field says ``inf`` means no limit."""
    if not is_dataclass(node):
        return
    for f in fields(node):
        value = getattr(node, f.name)
        key = f"{path}{f.name}"
        bounds: Bounds = f.metadata.get("bounds", Bounds())
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for name, item in items:
            where = key if name is None else f"{key}.{name}"
            if is_dataclass(item):
                check_bounds(item, where + ".")
            elif isinstance(item, (int, float)) and not isinstance(item, bool) and not bounds.allows(float(item)):
                fix = f"; {bounds.hint}" if bounds.hint else ""
                raise ConfigError(f"{where}={item} is not allowed: it must be {bounds.describe()}{fix}")


@dataclass
class PlatformConfig:
    """One accelerator platform: per-GPU specs, its scale-up domain, racks, power and prices."""

    name: str = MISSING
    vendor: str = MISSING
    generation: str = "unknown"  # hopper, blackwell, cdna3, cdna4: selects the calibrated efficiencies
    memory_gb: float = MISSING  # usable HBM per GPU, GB (1e9 bytes)
    hbm_bw_tb_s: float = MISSING  # HBM bandwidth per GPU, TB/s
    bf16_dense_tflops: float = MISSING  # dense (no sparsity) tensor-core peak per GPU
    fp8_dense_tflops: float = MISSING
    fp4_dense_tflops: Optional[float] = None  # None: no FP4 tensor cores
    scaleup_bw_gb_s: float = MISSING  # NVLink / Infinity Fabric, unidirectional, per GPU, GB/s
    scaleup_domain_gpus: int = MISSING  # GPUs that share the scale-up fabric
    scaleout_bw_gbps: float = MISSING  # InfiniBand / RoCE NIC bandwidth per GPU, Gbit/s
    gpus_per_rack: int = MISSING
    tdp_w: float = MISSING  # GPU board power at full load, W
    idle_power_fraction: float = 0.3  # GPU draw when idle, as a fraction of TDP
    host_power_w_per_gpu: float = MISSING  # CPUs, NICs, switches, fans: the rest of the system per GPU
    allin_power_kw_per_gpu: float = MISSING  # provisioned utility power per GPU incl. facility
    capex_usd_per_gpu: float = MISSING  # all-in system capex per GPU (for the bottom-up TCO)
    price_usd_per_gpu_hour: dict[str, float] = field(default_factory=dict)  # preset -> $/GPU-hour


@dataclass
class ModelConfig:
    """Architecture of one served model, as published in its config.json."""

    name: str = MISSING
    hf_id: str = MISSING
    layers: int = MISSING
    hidden: int = MISSING
    q_heads: int = MISSING
    kv_heads: int = MISSING
    head_dim: int = MISSING  # GQA head dimension (MLA: see the qk_/v_ dimensions)
    attention: str = "gqa"  # gqa | mla
    kv_lora_rank: int = 0  # MLA latent KV dimension
    q_lora_rank: int = 0  # MLA query compression dimension
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    ffn_dense_dim: int = 0  # gated MLP width of dense layers
    moe_ffn_dim: int = 0  # gated MLP width of one expert
    n_routed_experts: int = 0
    n_shared_experts: int = 0
    top_k: int = 0
    first_k_dense: int = 0  # leading layers with a dense MLP (MoE models)
    vocab: int = MISSING
    max_context_tokens: int = MISSING
    sliding_window_tokens: int = 0  # window of sliding-window attention layers (0: none)
    sliding_window_layers: int = 0  # how many layers use the window
    total_params_b: float = MISSING  # published totals, checked against the shapes in tests
    active_params_b: float = MISSING


@dataclass
class PrecisionConfig:
    """Data types of weights, activations and KV cache: bf16, fp8 or fp4."""

    name: str = MISSING
    weight_dtype: str = MISSING
    activation_dtype: str = MISSING
    kv_dtype: str = MISSING


@dataclass
class WorkerConfig:
    """How a model replica is sharded: a worker is ``tp`` GPUs holding one replica."""

    tp: int = 8  # GPUs per worker (tensor-parallel width of attention and dense layers)
    ep: int = 0  # expert-parallel width of MoE layers (divides tp); 0 means ep = tp
    dp_attn: bool = False  # attention data-parallel: each GPU attends for its own slice of the batch


@dataclass
class SpeculativeConfig:
    """Speculative decoding by multi-token prediction (MTP): draft, then verify in one iteration."""

    method: str = "none"  # none | mtp
    draft_tokens: int = 3  # tokens drafted per request per decode iteration
    acceptance_rate: Optional[float] = None  # chance a draft is accepted given the previous one was; None: calibration's
    draft_layers: int = 1  # transformer layers of the draft (MTP) module, run once per draft token


@dataclass
class EngineConfig:
    """The serving engine of one worker: continuous batching with chunked prefill."""

    max_batch_size: int = 256  # requests in flight per worker
    max_tokens_per_iteration: int = 8192  # prefill + decode tokens per iteration (chunked prefill)
    gpu_memory_utilization: float = 0.9  # fraction of HBM the engine may use
    activation_reserve_gb: float = 4.0  # per GPU, kept for activations and workspaces
    event_skipping: bool = True  # advance decode-only stretches in one event
    speculative: SpeculativeConfig = field(default_factory=SpeculativeConfig)


@dataclass
class EfficiencyConfig:
    """What a GPU generation achieves of its peaks, and the fixed costs it pays: the factors the
    roofline is calibrated with (``python -m sim.calibrate``)."""

    compute_efficiency: float = 0.6  # achieved / peak tensor FLOPS in GEMMs
    attention_efficiency: float = 0.6  # achieved / peak BF16 tensor FLOPS in attention kernels
    memory_efficiency: float = 0.9  # achieved / peak HBM bandwidth
    comm_efficiency: float = 0.8  # achieved / peak link bandwidth (scale-up and scale-out)
    collective_latency_s: float = 5e-6  # fixed latency of one collective (all-reduce, all-to-all)
    iteration_overhead_s: float = 5e-4  # scheduling, kernel launch, sampling per iteration


@dataclass
class CalibrationConfig:
    """Efficiency factors fitted to measured benchmarks, per GPU generation (``conf/calibration``)."""

    name: str = "uncalibrated"
    command: str = ""  # the command that produced this file
    fallback: EfficiencyConfig = field(default_factory=EfficiencyConfig)  # generations not fitted
    generations: dict[str, EfficiencyConfig] = field(default_factory=dict)
    mtp_acceptance_rate: float = 0.7  # draft acceptance of speculative decoding when not configured


@dataclass
class PerfConfig:
    """Iteration-time model: ``roofline`` from physics, or ``constant`` from measured numbers.

    An efficiency left at None takes the calibration's value for the platform's generation.
    """

    kind: str = "roofline"  # roofline | constant
    compute_efficiency: Optional[float] = None  # achieved / peak tensor FLOPS in GEMMs
    attention_efficiency: Optional[float] = None  # achieved / peak BF16 tensor FLOPS in attention kernels
    memory_efficiency: Optional[float] = None  # achieved / peak HBM bandwidth
    comm_efficiency: Optional[float] = None  # achieved / peak link bandwidth (scale-up and scale-out)
    collective_latency_s: Optional[float] = None  # fixed latency of one collective (all-reduce, all-to-all)
    iteration_overhead_s: Optional[float] = None  # scheduling, kernel launch, sampling per iteration
    constant_iteration_s: float = 0.02  # constant model: time of one iteration
    constant_per_token_s: float = 0.0  # constant model: plus this per token in the iteration


@dataclass
class SloConfig:
    """Service level a request must meet to count as good: both limits, in seconds."""

    ttft_s: float = 2.0
    tpot_s: float = 0.05


@dataclass
class WorkloadConfig:
    """Traffic offered to the fleet: arrivals, request lengths and the SLO."""

    name: str = "custom"
    arrival: str = "poisson"  # poisson (open loop) | closed_loop
    rate_rps: Optional[float] = None  # poisson: requests per second ...
    load_fraction: Optional[float] = 0.8  # ... or this fraction of the fleet's estimated capacity
    concurrency: int = 64  # closed_loop: clients, each with one request outstanding
    num_requests: int = 2000
    input_tokens: int = 1024  # nominal input length L
    output_tokens: int = 1024  # nominal output length L
    length_dist: str = "uniform"  # fixed | uniform (in [0.8 L, L]) | lognormal (median L)
    lognormal_sigma: float = 0.5
    # Steady-state measurement: metrics count the requests completed between the completion of the
    # first ``warmup_requests`` and the last arrival (after which the offered load drains away).
    steady_state: bool = False
    warmup_requests: int = 0
    slo: SloConfig = field(default_factory=SloConfig)


@dataclass
class FleetConfig:
    """Racks of one platform, carved into workers, behind one router."""

    racks: int = 1
    workers: int = 0  # aggregated (or, disaggregated, decode) workers; 0: as many as the racks hold
    prefill_workers: int = 0  # > 0: disaggregated serving, with this many prefill-only workers
    router: str = "least_outstanding"  # round_robin | least_outstanding
    max_queue_per_worker: int = 0  # requests waiting per worker before new ones are dropped; 0: no limit


@dataclass
class TcoConfig:
    """Bottom-up total cost of ownership of the fleet."""

    capex_usd_per_gpu: Optional[float] = None  # None: the platform's estimate
    depreciation_years: float = 4.0
    cost_of_capital: float = 0.08  # per year
    opex_fraction_per_year: float = 0.05  # maintenance, staff, space, as a fraction of capex
    usd_per_kwh: float = 0.08


@dataclass
class CostConfig:
    """How the fleet's hourly cost is priced: a $/GPU-hour preset or a bottom-up TCO."""

    name: str = "hyperscaler"
    mode: str = "preset"  # preset | tco
    preset: str = "hyperscaler_owning"  # key into the platform's price_usd_per_gpu_hour
    pue: float = 1.3  # facility power / IT power (power figures; energy cost in tco mode)
    tco: TcoConfig = field(default_factory=TcoConfig)


@dataclass
class OutputConfig:
    """What a run writes next to ``metrics.json``."""

    requests_csv: bool = True
    figure: bool = True
    print_summary: bool = True


@dataclass
class SimConfig:
    """Root schema: one simulated fleet serving one workload."""

    platform: PlatformConfig = field(default_factory=PlatformConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    precision: PrecisionConfig = field(default_factory=PrecisionConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)  # aggregated, or decode when disaggregated
    prefill_worker: WorkerConfig = field(default_factory=WorkerConfig)  # prefill pool (fleet.prefill_workers > 0)
    engine: EngineConfig = field(default_factory=EngineConfig)
    perf: PerfConfig = field(default_factory=PerfConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    fleet: FleetConfig = field(default_factory=FleetConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    seed: int = 0
    max_sim_time_s: Optional[float] = None  # stop the clock here; requests still running are in flight


def register_configs() -> None:
    """Register the root schema with Hydra's ConfigStore (idempotent)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="base_config", node=SimConfig)


def to_sim_config(cfg: DictConfig | SimConfig | dict[str, Any]) -> SimConfig:
    """Turn a composed Hydra config into plain dataclasses, dropping Hydra's own node."""
    if isinstance(cfg, SimConfig):
        return cfg
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(cfg)
    container = OmegaConf.to_container(cfg, resolve=True)
    container.pop("hydra", None)
    typed = OmegaConf.merge(OmegaConf.structured(SimConfig), container)
    return OmegaConf.to_object(typed)


def compose_config(*overrides: str) -> SimConfig:
    """Compose ``conf/config.yaml`` with command-line style overrides, as ``python -m sim`` would."""
    from hydra import compose, initialize_config_dir

    register_configs()
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        return to_sim_config(compose(config_name="config", overrides=list(overrides)))


def calibrated(cfg: SimConfig) -> SimConfig:
    """The configuration with every efficiency and acceptance rate left at None filled in from the
    calibration (the platform's generation, or the calibration's fallback)."""
    from dataclasses import fields, replace

    factors = cfg.calibration.generations.get(cfg.platform.generation, cfg.calibration.fallback)
    perf = replace(
        cfg.perf, **{f.name: getattr(factors, f.name) for f in fields(EfficiencyConfig) if getattr(cfg.perf, f.name) is None}
    )
    spec = cfg.engine.speculative
    if spec.acceptance_rate is None:
        spec = replace(spec, acceptance_rate=cfg.calibration.mtp_acceptance_rate)
    return replace(cfg, perf=perf, engine=replace(cfg.engine, speculative=spec))
