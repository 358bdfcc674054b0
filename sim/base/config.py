"""Configuration schemas of the token factory, and the checks run before any simulation.

Every Hydra config group (``conf/platform``, ``conf/model``, ``conf/precision``, ``conf/workload``,
``conf/cost``) is typed by one dataclass here. The root schema :class:`SimConfig` is registered in
Hydra's ConfigStore as ``base_config``, so a misspelt key or a value of the wrong type is rejected by
Hydra while composing, with its own message. Every number declares its range on its field
(:func:`sim.base.bounds.bounded`, :func:`sim.base.bounds.positive`), checked by :func:`sim.base.bounds.check_bounds`
before anything else (NaN, infinity, out of range, implausible for real hardware). Checks that need physics (does
the model fit on a worker? FP4 tensor cores?) live in :func:`sim.run.deployment.build`, before the first event;
past the command line the simulator sees only these plain dataclasses, never a ``DictConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

# ConfigError, the field helpers and check_bounds are part of the schemas' API: importable from here.
from sim.base.bounds import Bounds, ConfigError, bounded, check_bounds, positive, sizes  # noqa: F401

#: The Hydra config folder shipped with the project.
CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "conf")


def efficiency(default: Any) -> Any:  # a field that is achieved / peak
    return bounded(default, 0, 1, low_open=True, hint="achieved / peak: a fraction in (0, 1]")


def overhead(default: Any, high: float) -> Any:  # a field that is a fixed cost
    return bounded(default, 0, high, unit="s", hint="a fixed cost in seconds (microseconds to milliseconds in practice)")


@dataclass
class ScaleUpConfig:
    """The scale-up fabric joining the GPUs of one domain: NVLink through NVSwitches (``switched``: any
    GPU reaches any other at its whole port bandwidth) or AMD's Infinity Fabric (``full_mesh``: one link
    per GPU pair, so a pair gets 1/(domain - 1) of a GPU's bandwidth and an all-to-all all of it)."""

    cross_checked: ClassVar[tuple[str, ...]] = ()
    kind: str = MISSING  # switched | full_mesh
    domain_gpus: int = bounded(MISSING, 1, plausible=(1, 1024), unit="GPUs", hint="GPUs sharing the scale-up fabric: 8 for HGX, 72 for NVL72")
    gpu_gb_s: float = positive(MISSING, plausible=(10, 10_000), unit="GB/s", hint="NVLink / Infinity Fabric per GPU, one way: 450 for NVLink 4")
    hop_latency_s: float = positive(0.5e-6, plausible=(1e-8, 1e-4), unit="s", hint="one-way latency of a message from GPU to GPU")
    peer_latency_s: float = positive(0.1e-6, plausible=(1e-9, 1e-4), unit="s", hint="a collective's extra time per peer it exchanges with")
    # what the collectives' kernels achieve here (published microbenchmarks, cited in each platform's YAML)
    alltoall_efficiency: float = efficiency(0.8)  # MoE dispatch/combine, large messages: achieved / peak of the port
    allreduce_efficiency: float = efficiency(0.8)  # all-reduce, large messages: ring-equivalent bytes / peak
    alltoall_latency_s: float = positive(20e-6, plausible=(1e-7, 1e-3), unit="s", hint="fixed cost of one dispatch or combine (launch, synchronisation)")
    allreduce_latency_s: float = positive(5e-6, plausible=(1e-7, 1e-3), unit="s", hint="fixed cost of one small all-reduce")
    allow_implausible: list[str] = field(default_factory=list)  # keys deliberately outside the plausible range


@dataclass
class ScaleOutConfig:
    """The scale-out network between scale-up domains: one NIC per GPU into leaf switches, leaves into
    spines. A leaf group is the GPUs whose traffic between each other stays below the spine: one leaf
    switch, or with ``rail_optimized`` wiring (NIC i of every node on leaf i) a rail group of leaves,
    reached across rails through one scale-up hop (PXN)."""

    cross_checked: ClassVar[tuple[str, ...]] = ()
    nic_gbps: float = positive(MISSING, plausible=(10, 6400), unit="Gbit/s", hint="NIC bandwidth per GPU in Gbit/s: 400 for ConnectX-7")
    rail_optimized: bool = True
    gpus_per_leaf: int = bounded(256, 1, plausible=(1, 1_000_000), unit="GPUs", hint="GPUs a leaf group serves (whole scale-up domains of them)")
    oversubscription: float = bounded(1.0, 1.0, plausible=(1, 64), unit="(leaf down : up bandwidth)", hint="1 is a non-blocking fabric")
    nic_latency_s: float = positive(1.0e-6, plausible=(1e-8, 1e-4), unit="s", hint="one-way, GPU memory to wire (each end)")
    switch_latency_s: float = positive(0.3e-6, plausible=(1e-9, 1e-4), unit="s", hint="per switch a message crosses")
    peer_latency_s: float = positive(0.5e-6, plausible=(1e-9, 1e-4), unit="s", hint="a collective's extra time per peer across the network")
    alltoall_efficiency: float = efficiency(0.8)  # MoE dispatch/combine across domains: achieved / NIC peak
    allreduce_efficiency: float = efficiency(0.8)  # all-reduce across domains: achieved / NIC peak
    alltoall_latency_s: float = positive(60e-6, plausible=(1e-7, 1e-2), unit="s", hint="fixed cost of one dispatch or combine across the network")
    allreduce_latency_s: float = positive(20e-6, plausible=(1e-7, 1e-2), unit="s", hint="fixed cost of one small all-reduce across domains")
    allow_implausible: list[str] = field(default_factory=list)  # keys deliberately outside the plausible range


@dataclass
class TopologyConfig:
    """How a platform's GPUs are wired: scale-up domains on a scale-out fabric (defaults as sold)."""

    scaleup: ScaleUpConfig = field(default_factory=ScaleUpConfig)
    scaleout: ScaleOutConfig = field(default_factory=ScaleOutConfig)


@dataclass
class KernelConfig:
    """What a GPU generation's serving kernels achieve of its peaks by tensor-core type (``data/reference/kernel_ops.csv``,
    checked by ``python -m sim.validate --ops``); ``grouped_*``: MoE experts' grouped GEMMs (a type absent: as the dense)."""

    gemm_fraction: dict[str, float] = bounded({}, 0, 1, low_open=True, hint="large GEMMs: achieved / peak FLOPS of the type")
    weight_read_fraction: dict[str, float] = bounded({}, 0, 1, low_open=True, hint="small-batch GEMMs: weight bytes read / peak HBM")
    grouped_gemm_fraction: dict[str, float] = bounded({}, 0, 1, low_open=True, hint="grouped (MoE expert) GEMMs at many tokens per expert: achieved / peak FLOPS of the type")
    grouped_weight_read_fraction: dict[str, float] = bounded({}, 0, 1, low_open=True, hint="grouped (MoE expert) GEMMs at few tokens per expert: weight bytes read / peak HBM")
    stream_fraction: float = efficiency(0.8)  # KV-cache and activation streams: achieved / peak HBM
    attention_fraction: float = efficiency(0.6)  # attention kernels: achieved / peak BF16 FLOPS
    kernel_floor_s: float = positive(4e-6, plausible=(1e-7, 1e-4), unit="s", hint="the time of a near-empty kernel, launch gap included")


@dataclass
class PlatformConfig:
    """One accelerator platform: per-GPU specs, its scale-up domain, racks, power and prices.

    Every number has a plausible range (what real accelerators have), which catches wrong units; a
    deliberate exception (a future GPU) is named in ``allow_implausible``."""

    cross_checked: ClassVar[tuple[str, ...]] = ("fp8_dense_tflops", "fp4_dense_tflops", "allin_power_kw_per_gpu")
    name: str = MISSING
    vendor: str = MISSING
    generation: str = "unknown"  # hopper, blackwell, cdna3, cdna4: selects the calibrated efficiencies
    memory_gb: float = positive(MISSING, plausible=(8, 1024), unit="GB", hint="HBM per GPU in GB (1e9 bytes), not bytes: 141 for an H200")
    hbm_bw_tb_s: float = positive(MISSING, plausible=(0.3, 50), unit="TB/s", hint="HBM bandwidth per GPU in TB/s, not GB/s: 4.8 for an H200")
    bf16_dense_tflops: float = positive(MISSING, plausible=(20, 20_000), unit="TFLOPS", hint="dense (no sparsity) peak per GPU: 989 for an H200")
    fp8_dense_tflops: float = positive(MISSING, plausible=(20, 40_000), unit="TFLOPS", hint="dense peak per GPU: 1979 for an H200")
    fp4_dense_tflops: Optional[float] = positive(None, plausible=(20, 80_000), unit="TFLOPS", hint="dense peak per GPU; null: no FP4 tensor cores")
    gpus_per_rack: int = bounded(MISSING, 1, plausible=(1, 1024), hint="GPUs in one rack (8 for an HGX system)")
    tdp_w: float = positive(MISSING, plausible=(50, 5000), unit="W", hint="GPU board power at full load in W, not kW: 700 for an H200")
    idle_power_fraction: float = bounded(0.3, 0, 1, hint="GPU draw when idle as a fraction of TDP")
    host_power_w_per_gpu: float = bounded(MISSING, 0, plausible=(0, 5000), unit="W", hint="CPUs, NICs, switches, fans per GPU in W")
    allin_power_kw_per_gpu: float = positive(MISSING, plausible=(0.1, 20), unit="kW", hint="provisioned power per GPU in kW, not W: 1.73 for an H200")
    capex_usd_per_gpu: float = positive(MISSING, plausible=(1000, 1e6), unit="USD", hint="all-in system capex per GPU")
    price_usd_per_gpu_hour: dict[str, float] = positive({}, plausible=(0.05, 200), unit="USD/GPU-hour", hint="preset -> $/GPU-hour")
    allow_implausible: list[str] = field(default_factory=list)  # keys deliberately outside the plausible range
    topology: TopologyConfig = field(default_factory=TopologyConfig)  # scale-up domains and scale-out network
    kernels: KernelConfig = field(default_factory=KernelConfig)  # what its kernels achieve


@dataclass
class ModelConfig:
    """Architecture of one served model, as published in its config.json (plausible ranges catch typos)."""

    cross_checked: ClassVar[tuple[str, ...]] = ("total_params_b", "active_params_b")
    name: str = MISSING
    hf_id: str = MISSING
    layers: int = bounded(MISSING, 1, plausible=(1, 512))
    hidden: int = bounded(MISSING, 1, plausible=(64, 65_536))
    q_heads: int = bounded(MISSING, 1, plausible=(1, 1024))
    kv_heads: int = bounded(MISSING, 1, plausible=(1, 1024))
    head_dim: int = bounded(MISSING, 1, plausible=(16, 1024))  # GQA head dimension (MLA: see the qk_/v_ dimensions)
    attention: str = "gqa"  # gqa | mla
    kv_lora_rank: int = bounded(0, 0, plausible=(0, 16_384))  # MLA latent KV dimension
    q_lora_rank: int = bounded(0, 0, plausible=(0, 65_536))  # MLA query compression dimension
    qk_nope_head_dim: int = bounded(0, 0, plausible=(0, 1024))
    qk_rope_head_dim: int = bounded(0, 0, plausible=(0, 1024))
    v_head_dim: int = bounded(0, 0, plausible=(0, 1024))
    ffn_dense_dim: int = bounded(0, 0, plausible=(0, 262_144))  # gated MLP width of dense layers
    moe_ffn_dim: int = bounded(0, 0, plausible=(0, 262_144))  # gated MLP width of one expert
    n_routed_experts: int = bounded(0, 0, plausible=(0, 4096))
    n_shared_experts: int = bounded(0, 0, plausible=(0, 64))
    top_k: int = bounded(0, 0, plausible=(0, 64))
    first_k_dense: int = bounded(0, 0)  # leading layers with a dense MLP (MoE models)
    vocab: int = bounded(MISSING, 1, plausible=(1000, 2_000_000))
    max_context_tokens: int = bounded(MISSING, 1, plausible=(512, 20_000_000))
    sliding_window_tokens: int = bounded(0, 0)  # window of sliding-window attention layers (0: none)
    sliding_window_layers: int = bounded(0, 0)  # how many layers use the window
    mtp_modules: int = bounded(0, 0, plausible=(0, 8))  # multi-token-prediction modules shipped (config.json num_nextn_predict_layers)
    total_params_b: float = positive(MISSING, plausible=(0.01, 100_000), unit="billion")  # published totals, checked against the shapes
    active_params_b: float = positive(MISSING, plausible=(0.01, 100_000), unit="billion")
    allow_implausible: list[str] = field(default_factory=list)  # keys deliberately outside the plausible range


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

    tp: int = bounded(0, 0, 4096, hint="GPUs per worker; 0: the default rule")  # tensor-parallel width; 0: sim.serving.defaults
    ep: int = bounded(0, 0, 4096, hint="0 means ep = tp")  # expert-parallel width of MoE layers (divides tp)
    dp_attn: bool = False  # attention data-parallel: each GPU attends for its own slice of the batch
    overlap_comm: bool = False  # two micro-batches: one's collectives overlap the other's GEMMs


@dataclass
class SpeculativeConfig:
    """Speculative decoding by multi-token prediction (MTP): draft, then verify in one iteration."""

    method: str = "none"  # none | mtp
    draft_tokens: int = bounded(3, 1, 16, hint="serving engines draft 1 to about 8 tokens per step (engine.speculative.method=none turns drafting off)")
    acceptance_rate: Optional[float] = bounded(None, 0, 1, high_open=True, hint="chance a draft is accepted; null: the calibration's")
    draft_layers: int = bounded(1, 1, 8, hint="transformer layers of the draft (MTP) module, run once per draft token")


@dataclass
class EngineConfig:
    """The serving engine of one worker: continuous batching with chunked prefill."""

    max_batch_size: int = bounded(256, 1, 1_000_000, hint="requests in flight per worker")
    max_tokens_per_iteration: int = bounded(8192, 1, 10_000_000, hint="prefill + decode tokens per iteration (chunked prefill)")
    gpu_memory_utilization: float = bounded(0.9, 0, 1, low_open=True, hint="the fraction of HBM the engine may use")
    activation_reserve_gb: float = bounded(4.0, 0, 1024, unit="GB", hint="per GPU, kept for activations and workspaces")
    event_skipping: bool = True  # advance decode-only stretches in one event
    speculative: SpeculativeConfig = field(default_factory=SpeculativeConfig)


def scale(default: float) -> Any:  # a field that is served / microbenchmark
    return bounded(default, 0.05, 3, hint="served / microbenchmark: near 1 when the kernels' figures hold in serving")


@dataclass
class EfficiencyConfig:
    """What a serving stack on one GPU generation achieves beyond its kernels' microbenchmarks (``platform.kernels``),
    and the fixed cost of an iteration: the few factors fitted end to end (``python -m sim.calibrate``)."""

    compute_scale: float = scale(1.0)  # GEMMs in serving / platform.kernels.gemm_fraction
    attention_scale: float = scale(1.0)  # attention in serving / platform.kernels.attention_fraction
    memory_scale: float = scale(1.0)  # HBM reads in serving / platform.kernels' weight-read and stream fractions
    launch_scale: float = scale(1.0)  # a kernel's fixed cost in serving (CUDA graphs, fusion) / platform.kernels.kernel_floor_s
    iteration_overhead_s: float = overhead(5e-4, 1.0)  # scheduling and sampling per iteration (CPU side)


@dataclass
class CalibrationConfig:
    """Efficiency factors fitted to measured benchmarks, per GPU generation (``conf/calibration``)."""

    name: str = "uncalibrated"
    command: str = ""  # the command that produced this file
    fallback: EfficiencyConfig = field(default_factory=EfficiencyConfig)  # generations not fitted
    generations: dict[str, EfficiencyConfig] = field(default_factory=dict)
    uncertainty: dict[str, dict[str, float]] = bounded({}, 0, 10, hint="generation -> factor -> sd of its log")
    errors: dict[str, float] = bounded({}, 0, 1e4, unit="%", hint='generation -> median |error|, in sample; "uncalibrated", "unmeasured_model": cross-validated')
    models: list[str] = field(default_factory=list)  # the models the fit saw measurements of (empty: not recorded)
    mtp_acceptance_rate: float = bounded(0.7, 0, 1, high_open=True)  # draft acceptance of speculative decoding when not configured


@dataclass
class PerfConfig:
    """Iteration-time model: ``roofline`` from physics, or ``constant`` from measured numbers.

    An efficiency left at None takes the calibration's value for the platform's generation.
    """

    kind: str = "roofline"  # roofline | constant
    compute_efficiency: Optional[float] = efficiency(None)  # achieved / peak tensor FLOPS in GEMMs
    attention_efficiency: Optional[float] = efficiency(None)  # achieved / peak BF16 tensor FLOPS in attention kernels
    memory_efficiency: Optional[float] = efficiency(None)  # achieved / peak HBM bandwidth of KV-cache and activation streams
    weight_read_efficiency: Optional[float] = efficiency(None)  # achieved / peak HBM bandwidth of GEMMs bound by their weights
    alltoall_scaleup_efficiency: Optional[float] = efficiency(None)  # all-to-all over NVLink / Infinity Fabric
    alltoall_scaleout_efficiency: Optional[float] = efficiency(None)  # all-to-all and KV transfers over the NICs
    allreduce_scaleup_efficiency: Optional[float] = efficiency(None)  # all-reduce inside a domain
    allreduce_scaleout_efficiency: Optional[float] = efficiency(None)  # all-reduce across domains
    collective_latency_s: Optional[float] = overhead(None, 0.01)  # extra fixed cost per collective over the platform's measured one
    iteration_overhead_s: Optional[float] = overhead(None, 1.0)  # scheduling and sampling per iteration
    kernel_floor_s: Optional[float] = overhead(None, 1e-3)  # a near-empty kernel's time; null: the platform's
    constant_iteration_s: float = bounded(0.02, 1e-6, 3600, unit="s", hint="constant model: the measured time of one iteration")
    constant_per_token_s: float = bounded(0.0, 0, 1, unit="s", hint="constant model: the time each token of an iteration adds")


@dataclass
class SloConfig:
    """Service level a request must meet to count as good: both limits, in seconds (inf: no limit)."""

    ttft_s: float = positive(2.0, inf_is_no_limit=True, unit="s", hint="the time-to-first-token limit")
    tpot_s: float = positive(0.05, inf_is_no_limit=True, unit="s", hint="the time-per-output-token limit")
    # A run meets its SLO when at least this share of its requests meets both limits (``slo_met``).
    min_attainment: float = bounded(0.9, 0.0, 1.0, hint="a share of requests, e.g. 0.9")


@dataclass
class WorkloadConfig:
    """Traffic offered to the fleet: arrivals, request lengths and the SLO."""

    name: str = "custom"
    arrival: str = "poisson"  # poisson (open loop) | closed_loop
    rate_rps: Optional[float] = positive(None, unit="requests/s", hint="or workload.rate_rps=null with a workload.load_fraction")  # poisson ...
    load_fraction: Optional[float] = bounded(0.8, 0, 100, low_open=True, hint="a fraction of the fleet's estimated capacity")  # ... or this
    concurrency: int = bounded(64, 1, 10_000_000, hint="closed_loop: clients, each with one request outstanding")
    num_requests: int = bounded(2000, 1, 100_000_000, hint=sizes("requests"))
    input_tokens: int = bounded(1024, 1, 10_000_000, hint="nominal input length L, in tokens")
    output_tokens: int = bounded(1024, 1, 10_000_000, hint="nominal output length L, in tokens")
    length_dist: str = "uniform"  # fixed | uniform (in [0.8 L, L]) | lognormal (median L)
    lognormal_sigma: float = bounded(0.5, 0, 3, low_open=True, hint="the spread of lognormal lengths (draws are capped at e^(4 sigma) L)")
    # Steady-state measurement (the default): metrics count the requests completed between the end of
    # the warm-up and the last arrival (after which the offered load drains away). The warm-up ends at
    # the completion of the first ``warmup_requests``, or, left at None, where the MSER-5 rule finds the
    # initial transient over (sim/run/measurement.py). false: the whole run, fill and drain included.
    steady_state: bool = True
    warmup_requests: Optional[int] = bounded(None, 0)
    # The precision asked of a run: its throughput's 95 % confidence interval (batch means) within this fraction; a run that misses it says it is too short.
    target_ci_half_width: float = bounded(0.05, 0.0, 1.0, low_open=True, hint="a fraction, e.g. 0.05 for +-5 %")
    slo: SloConfig = field(default_factory=SloConfig)


@dataclass
class FleetConfig:
    """Racks of one platform, carved into workers, behind one router."""

    racks: int = bounded(1, 1, 100_000, hint="racks of the platform (sizes beyond are checked against the workers they hold)")
    workers: int = bounded(0, 0, 1_000_000, hint=sizes("workers"))  # aggregated (or decode) workers; 0: as many as the racks hold
    prefill_workers: int = bounded(0, 0, 1_000_000, hint=sizes("workers"))  # > 0: disaggregated serving with this many prefill-only workers
    router: str = "least_outstanding"  # round_robin | least_outstanding
    placement: str = "packed"  # packed: fill a leaf group before the next | spread: a worker's domains in different leaf groups
    max_queue_per_worker: int = bounded(0, 0, hint="requests waiting per worker before new ones are dropped; 0: no limit")


@dataclass
class TcoConfig:
    """Bottom-up total cost of ownership of the fleet."""

    capex_usd_per_gpu: Optional[float] = positive(None, unit="USD", hint="null: the platform's estimate")
    depreciation_years: float = bounded(4.0, 0, 50, low_open=True, unit="years")
    cost_of_capital: float = bounded(0.08, 0, 1, hint="per year, as a fraction (0.08 for 8 %)")
    opex_fraction_per_year: float = bounded(0.05, 0, 1, hint="maintenance, staff, space per year, as a fraction of capex")
    usd_per_kwh: float = bounded(0.08, 0, 10, unit="USD/kWh")


@dataclass
class CostConfig:
    """How the fleet's hourly cost is priced: a $/GPU-hour preset or a bottom-up TCO."""

    name: str = "hyperscaler"
    mode: str = "preset"  # preset | tco
    preset: str = "hyperscaler_owning"  # key into the platform's price_usd_per_gpu_hour
    pue: float = bounded(1.3, 1, 3, hint="facility power / IT power (1.1 to 1.6 in practice)")
    tco: TcoConfig = field(default_factory=TcoConfig)


@dataclass
class OutputConfig:
    """What a run writes next to ``metrics.json``."""

    requests_csv: bool = True  # the per-request and per-worker tables
    # Format of the per-request table: csv, parquet, or auto (Parquet beyond parquet_above_requests).
    requests_format: str = "auto"
    parquet_above_requests: int = bounded(100_000, 0)
    figure: bool = True
    print_summary: bool = True
    # In a sweep, a job whose folder already holds the ok results of the same configuration keeps them
    # instead of running again (a rerun of an interrupted sweep resumes it).
    resume: bool = True
    progress: bool = True  # a progress bar on a terminal (log lines elsewhere) for long runs


@dataclass
class UncertainInputConfig:
    """One uncertain input of a study: the configuration key it sets and the distribution it is drawn
    from: ``uniform`` (low, high), ``triangular`` (low, mode, high) or ``lognormal`` (median, sigma).
    ``relative``: the drawn value multiplies the configured value (a factor) instead of replacing it."""

    key: str = MISSING  # a numeric config key, e.g. cost.pue, cost.tco.usd_per_kwh, platform.price_usd_per_gpu_hour
    kind: str = "uniform"
    low: Optional[float] = None
    high: Optional[float] = None
    mode: Optional[float] = None
    median: Optional[float] = None
    sigma: Optional[float] = None
    relative: bool = False


@dataclass
class UncertaintyConfig:
    """Uncertain inputs of a study (``conf/uncertainty``), sampled with a Latin hypercube of ``samples``
    rows drawn from ``seed`` (the study's seed: every configuration sees the same rows); a run takes row
    ``sample``, so a sweep over ``uncertainty.sample=range(0,N)`` covers the design."""

    name: str = "none"
    samples: int = bounded(1, 1, 1_000_000)
    sample: int = bounded(0, 0)
    seed: int = bounded(0, 0)
    # name -> an UncertainInputConfig. Untyped for Hydra, which cannot add an entry to a dict of dataclasses from the
    # command line (+uncertainty.inputs.NAME.key=...); to_sim_config types every entry, naming a misspelt field.
    inputs: dict[str, Any] = field(default_factory=dict)


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
    uncertainty: UncertaintyConfig = field(default_factory=UncertaintyConfig)
    seed: int = bounded(0, 0, hint="a non-negative integer")
    max_sim_time_s: Optional[float] = positive(None, inf_is_no_limit=True, unit="s", hint="when to stop the clock (requests still running are in flight), or null to run until every request finishes")


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
    try:
        container = OmegaConf.to_container(cfg, resolve=True)
        container.pop("hydra", None)
        sim_cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(SimConfig), container))
    except OmegaConfBaseException as err:
        raise _schema_error(err) from None
    inputs = sim_cfg.uncertainty.inputs
    for name, spec in inputs.items():
        inputs[name] = _uncertain_input(f"uncertainty.inputs.{name}", spec)
    return sim_cfg


def _schema_error(err: OmegaConfBaseException, prefix: str = "") -> ConfigError:
    """A key the schema lacks, or a value of the wrong type, on one line naming the key."""
    key = getattr(err, "full_key", "") or ""
    key = f"{prefix}.{key}" if prefix and key else key or prefix or "the configuration"
    reason = str(getattr(err, "msg", err)).splitlines()[0]
    fix = "remove it or correct its spelling (the schemas are in sim/base/config.py)" if isinstance(err, ConfigKeyError) else "give it a value of its type"
    return ConfigError(f"{key}: {reason}; {fix}")


def _uncertain_input(where: str, spec: Any) -> UncertainInputConfig:
    """One entry of ``uncertainty.inputs`` typed by :class:`UncertainInputConfig` (its fields' names and types)."""
    if isinstance(spec, UncertainInputConfig):
        return spec
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}={spec!r} is not an uncertain input; give its key, kind and parameters, e.g. "
                          f"+{where}.key=cost.pue +{where}.low=1.1 +{where}.high=1.5")
    schema = OmegaConf.structured(UncertainInputConfig)
    OmegaConf.set_struct(schema, True)
    try:
        return OmegaConf.to_object(OmegaConf.merge(schema, spec))
    except OmegaConfBaseException as err:
        raise _schema_error(err, where) from None


def compose_config(*overrides: str) -> SimConfig:
    """Compose ``conf/config.yaml`` with command-line style overrides, as ``python -m sim`` would."""
    from hydra import compose, initialize_config_dir

    register_configs()
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        return to_sim_config(compose(config_name="config", overrides=list(overrides)))
