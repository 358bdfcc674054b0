"""Performance models: how long one engine iteration takes on one worker.

An iteration processes a batch of prefill chunks and decode tokens. Its shape is summarised by a few
numbers (tokens, attention pairs, KV tokens read) and a model turns it into seconds:

* :class:`RooflinePerf` derives the time from physics. Per GPU of the worker, the GEMMs take the
  larger of their FLOPs over the tensor-core rate and their weight bytes over HBM bandwidth; attention
  takes the larger of its FLOPs and the KV-cache bytes it reads; tensor-parallel all-reduces cost
  their bytes over the link bandwidth plus a fixed latency each; a fixed overhead covers scheduling
  and kernel launches. Efficiency factors (achieved / peak) are config values.
* :class:`ConstantPerf` is a fixed time per iteration plus a time per token, for tests (it turns a
  worker with batch size 1 into an M/D/1 server) and for users with measured numbers.

A run of decode-only iterations with a fixed batch is predictable: the batch's total context grows by
one token per request per iteration. Both models describe such a run as a :class:`DecodeRun`, whose
i-th iteration takes ``c + max(p1 + q1·i, p2 + q2·i)`` seconds (the attention term is the larger of a
compute and a memory line, both affine in the context), so the time of its first k iterations, and the
iteration in progress at a given moment, are closed-form: the engine advances any number of decode
iterations in O(1).
"""

from __future__ import annotations

import math
from typing import Protocol

from sim.config import ConfigError, EngineConfig, PerfConfig, WorkerConfig
from sim.hardware import Platform
from sim.models import ModelArch
from sim.precision import Precision


class DecodeRun:
    """Decode-only iterations i = 0, 1, ... taking ``c + max(p1 + q1·i, p2 + q2·i)`` seconds each.

    Stored as at most two pieces, split where the two lines cross: iteration i takes ``a + q·i`` before
    the crossing index and ``a2 + q2·(i - cross)`` from it on (``cross`` is None for one piece).
    """

    __slots__ = ("a", "q", "cross", "cross_s", "a2", "q2")

    def __init__(self, c: float, p1: float, q1: float, p2: float, q2: float):
        if p1 < p2 or (p1 == p2 and q1 < q2):
            p1, q1, p2, q2 = p2, q2, p1, q1  # line 1 is the larger at i = 0
        self.a, self.q = c + p1, q1
        if q2 <= q1:
            self.cross = None
        else:
            cross = math.ceil((p1 - p2) / (q2 - q1))  # first index where line 2 is at least line 1
            self.cross = cross
            self.cross_s = self.a * cross + q1 * cross * (cross - 1) / 2
            self.a2, self.q2 = c + p2 + q2 * cross, q2

    def elapsed_s(self, k: int) -> float:
        """Seconds taken by the first ``k`` iterations."""
        cross = self.cross
        if cross is None or k <= cross:
            return self.a * k + self.q * k * (k - 1) / 2
        j = k - cross
        return self.cross_s + self.a2 * j + self.q2 * j * (j - 1) / 2

    def boundary(self, elapsed_s: float) -> tuple[int, float]:
        """The first iteration boundary at or after ``elapsed_s``: the smallest k >= 1 whose first k
        iterations take at least ``elapsed_s`` seconds, and those seconds."""
        if self.cross is not None and elapsed_s > self.cross_s:
            base_k, x, a, q = self.cross, elapsed_s - self.cross_s, self.a2, self.q2
        else:
            base_k, x, a, q = 0, elapsed_s, self.a, self.q
        if q > 0:  # solve a·k + q·k(k-1)/2 = x for k
            b = a - q / 2
            k = (-b + math.sqrt(b * b + 2 * q * x)) / q
        else:
            k = x / a
        k = max(1, base_k + math.ceil(k - 1e-9))
        t = self.elapsed_s(k)
        while t < elapsed_s:  # guard against rounding in the root
            k += 1
            t = self.elapsed_s(k)
        while k > 1:
            before = self.elapsed_s(k - 1)
            if before < elapsed_s:
                break
            k, t = k - 1, before
        return k, t


class PerformanceModel(Protocol):
    """Time of one iteration of a worker's engine, in seconds."""

    def iteration_time_s(
        self,
        prefill_tokens: int,
        prefill_pairs: float,
        prefill_kv_tokens: float,
        decode_tokens: int,
        decode_context_tokens: float,
    ) -> float:
        """Seconds for an iteration with these prefill and decode parts.

        ``prefill_pairs``: (query, key) pairs the prefill chunks attend (causal, over full layers);
        ``prefill_kv_tokens``: context tokens whose KV the chunks read; ``decode_context_tokens``:
        total context of the decode requests (each decode token attends its whole context).
        """
        ...

    def decode_run(self, batch: int, context_tokens: float) -> DecodeRun:
        """The decode-only iterations of ``batch`` requests holding ``context_tokens`` in all."""
        ...


class ConstantPerf:
    """A fixed time per iteration plus a time per processed token."""

    def __init__(self, cfg: PerfConfig):
        if cfg.constant_iteration_s <= 0 or cfg.constant_per_token_s < 0:
            raise ConfigError(
                "perf.constant_iteration_s must be positive and perf.constant_per_token_s non-negative "
                f"(got {cfg.constant_iteration_s}, {cfg.constant_per_token_s})"
            )
        self.iteration_s = cfg.constant_iteration_s
        self.per_token_s = cfg.constant_per_token_s

    def iteration_time_s(self, prefill_tokens, prefill_pairs, prefill_kv_tokens, decode_tokens, decode_context_tokens):
        return self.iteration_s + self.per_token_s * (prefill_tokens + decode_tokens)

    def decode_run(self, batch: int, context_tokens: float) -> DecodeRun:
        return DecodeRun(self.iteration_s + self.per_token_s * batch, 0.0, 0.0, 0.0, 0.0)


class RooflinePerf:
    """Iteration time of a worker of ``tp`` GPUs from peak rates, shapes and efficiencies."""

    def __init__(self, platform: Platform, model: ModelArch, precision: Precision, worker: WorkerConfig, cfg: PerfConfig):
        for key in ("compute_efficiency", "memory_efficiency", "comm_efficiency"):
            value = getattr(cfg, key)
            if not 0 < value <= 1:
                raise ConfigError(f"perf.{key}={value} must be in (0, 1]")
        if cfg.iteration_overhead_s < 0 or cfg.collective_latency_s < 0:
            raise ConfigError("perf.iteration_overhead_s and perf.collective_latency_s must be non-negative")
        tp = worker.tp
        self.tp = tp
        self.model = model
        self.gemm_flops_per_s = platform.peak_flops(precision.compute_dtype) * cfg.compute_efficiency
        # Attention kernels run in BF16 (the KV cache is dequantised on load).
        self.attn_flops_per_s = platform.peak_flops("bf16") * cfg.compute_efficiency
        self.hbm_bytes_per_s = platform.hbm_bytes_per_s * cfg.memory_efficiency
        self.link_bytes_per_s = platform.link_bytes_per_s(tp) * cfg.comm_efficiency
        self.overhead_s = cfg.iteration_overhead_s

        # Per-GPU constants: the work of the worker is spread evenly over its tp GPUs.
        wb = precision.weight_bytes
        # Read every iteration: the layers' non-expert weights and the BF16 output head; the input
        # embedding is only looked up, one row per token.
        self.fixed_weight_bytes = (model.non_expert_params * wb + model.head_params * 2.0) / tp
        self.expert_bytes_all_layers = model.moe_layers * model.expert_params * wb  # one expert, all MoE layers
        self.gemm_flops_per_token = model.gemm_flops_per_token / tp
        self.head_flops_per_token = model.head_flops_per_sampled_token / tp
        self.attn_pair_flops_prefill = model.attention_flops_per_pair(decode=False) / tp
        self.attn_pair_flops_decode = model.attention_flops_per_pair(decode=True) / tp
        self.window_flops_prefill = model.window_attention_flops_per_token(decode=False) / tp
        self.window_flops_decode = model.window_attention_flops_per_token(decode=True) / tp
        # MLA caches one latent per token shared by all heads: every tensor-parallel rank reads all of
        # it. GQA shards KV heads over ranks (replicated once tp exceeds the KV heads).
        shards = model.kv_shards(tp)
        self.kv_bytes_per_token = model.kv_bytes_per_token(precision.kv_dtype) / shards
        self.kv_window_bytes = model.kv_bytes_fixed_per_request(precision.kv_dtype) / shards
        self._flops_s_per_context_token = self.attn_pair_flops_decode / self.attn_flops_per_s
        self._bytes_s_per_context_token = self.kv_bytes_per_token / self.hbm_bytes_per_s
        self._decode_constants: dict[int, tuple[float, float, float]] = {}
        self._token_costs_cache: dict[int, tuple[float, float]] = {}
        # Communication per token, per GPU. Every layer all-reduces its attention output over the tp ranks
        # (ring: each rank sends 2(tp-1)/tp of the BF16 hidden state); dense MLPs all-reduce too. With
        # expert parallelism (ep > 1) a MoE layer instead exchanges tokens all-to-all: each rank dispatches
        # its 1/tp share of the tokens to their top-k experts and receives their outputs back, the
        # (ep-1)/ep of them held by other ranks crossing the link; without it, MoE layers all-reduce.
        ep = worker.ep or tp
        hidden, layers = model.cfg.hidden, model.cfg.layers
        allreduce_bytes = 2 * (tp - 1) / tp * hidden * 2.0 if tp > 1 else 0.0
        if model.is_moe and ep > 1:
            exchanged = model.moe_dispatch_bytes_per_token(precision.activation_dtype) + model.moe_combine_bytes_per_token()
            moe_bytes = exchanged / tp * (ep - 1) / ep
            moe_collectives = 2 * model.moe_layers
        else:
            moe_bytes = model.moe_layers * allreduce_bytes
            moe_collectives = model.moe_layers if tp > 1 else 0
        self.comm_bytes_per_token = (layers + model.dense_layers) * allreduce_bytes + moe_bytes
        collectives = (layers + model.dense_layers if tp > 1 else 0) + moe_collectives
        self.collective_s = collectives * cfg.collective_latency_s

    def weight_bytes_read(self, tokens: int) -> float:
        """Weight bytes one GPU reads in an iteration of ``tokens`` tokens (experts: only those hit)."""
        read = self.fixed_weight_bytes
        if self.model.is_moe:
            read += self.model.expected_distinct_experts(tokens) * self.expert_bytes_all_layers / self.tp
        return read

    def _token_costs(self, tokens: int) -> tuple[float, float]:
        """Seconds an iteration of ``tokens`` tokens spends reading weights, and communicating (cached)."""
        costs = self._token_costs_cache[tokens] = (
            self.weight_bytes_read(tokens) / self.hbm_bytes_per_s,
            self.collective_s + tokens * self.comm_bytes_per_token / self.link_bytes_per_s,
        )
        return costs

    def iteration_time_s(self, prefill_tokens, prefill_pairs, prefill_kv_tokens, decode_tokens, decode_context_tokens):
        tokens = prefill_tokens + decode_tokens
        weights_s, comm_s = self._token_costs_cache.get(tokens) or self._token_costs(tokens)
        gemm_flops = tokens * self.gemm_flops_per_token + decode_tokens * self.head_flops_per_token
        t_gemm = max(gemm_flops / self.gemm_flops_per_s, weights_s)
        attn_flops = (
            prefill_pairs * self.attn_pair_flops_prefill
            + prefill_tokens * self.window_flops_prefill
            + decode_context_tokens * self.attn_pair_flops_decode
            + decode_tokens * self.window_flops_decode
        )
        kv_bytes = (prefill_kv_tokens + decode_context_tokens) * self.kv_bytes_per_token + (
            decode_tokens + (prefill_tokens > 0)
        ) * self.kv_window_bytes
        t_attn = max(attn_flops / self.attn_flops_per_s, kv_bytes / self.hbm_bytes_per_s)
        return t_gemm + t_attn + comm_s + self.overhead_s

    def decode_run(self, batch: int, context_tokens: float) -> DecodeRun:
        """Attention = max(compute line, memory line), each affine in the context, which grows by ``batch``."""
        c, w1, w2 = self._decode_constants.get(batch) or self._decode_constants_for(batch)
        f, b = self._flops_s_per_context_token, self._bytes_s_per_context_token
        return DecodeRun(c, context_tokens * f + w1, batch * f, context_tokens * b + w2, batch * b)

    def _decode_constants_for(self, batch: int) -> tuple[float, float, float]:
        """Parts of a decode iteration that depend on the batch only: GEMMs, all-reduces, overhead, windows."""
        gemm_flops = batch * (self.gemm_flops_per_token + self.head_flops_per_token)
        weights_s, comm_s = self._token_costs_cache.get(batch) or self._token_costs(batch)
        t_gemm = max(gemm_flops / self.gemm_flops_per_s, weights_s)
        constants = (
            t_gemm + comm_s + self.overhead_s,
            batch * self.window_flops_decode / self.attn_flops_per_s,
            batch * self.kv_window_bytes / self.hbm_bytes_per_s,
        )
        self._decode_constants[batch] = constants
        return constants


def build_perf_model(platform: Platform, model: ModelArch, precision: Precision, worker: WorkerConfig, cfg: PerfConfig) -> PerformanceModel:
    """The performance model named by ``perf.kind``."""
    if cfg.kind == "roofline":
        return RooflinePerf(platform, model, precision, worker, cfg)
    if cfg.kind == "constant":
        return ConstantPerf(cfg)
    raise ConfigError(f"perf.kind={cfg.kind!r} is unknown; use 'roofline' or 'constant'")


def estimate_worker_capacity_rps(
    perf: PerformanceModel, engine: EngineConfig, kv_capacity_tokens: float, kv_fixed_tokens: float, mean_input: float, mean_output: float
) -> float:
    """Requests per second one worker sustains when saturated, from the performance model alone.

    The decode batch is the smaller of the batch limit and the number of average requests (holding
    their prompt and half their output) that fit in the KV cache. A request costs its prefill (timed
    as the marginal time of its tokens in a chunked iteration) plus its share of ``mean_output``
    decode iterations at that batch. Used to turn a ``load_fraction`` into an arrival rate, so one
    workload preset means the same load on any fleet.
    """
    tokens_held = mean_input + mean_output / 2 + kv_fixed_tokens
    batch = max(1.0, min(engine.max_batch_size, kv_capacity_tokens / tokens_held))
    b = int(batch)
    context = b * (mean_input + mean_output / 2)
    decode_iter_s = perf.iteration_time_s(0, 0.0, 0.0, b, context)
    chunk = min(engine.max_tokens_per_iteration, int(mean_input))
    chunk = max(chunk, 1)
    with_chunk = perf.iteration_time_s(chunk, chunk * mean_input / 2, mean_input / 2, b, context)
    prefill_s = (with_chunk - decode_iter_s) * mean_input / chunk
    seconds_per_request = prefill_s + mean_output * decode_iter_s / b
    return 1.0 / seconds_per_request
