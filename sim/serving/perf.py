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

from sim.config import ConfigError, EngineConfig, PerfConfig, SpeculativeConfig, WorkerConfig
from sim.serving.speculative import Speculation
from sim.spec.model import ModelArch
from sim.spec.platform import Platform
from sim.spec.precision import Precision

_EFFICIENCIES = ("compute_efficiency", "attention_efficiency", "memory_efficiency", "comm_efficiency")


def _calibrated_value(cfg: PerfConfig, key: str) -> float:
    """A factor of the roofline model; None means the calibration did not fill it in."""
    value = getattr(cfg, key)
    if value is None:
        raise ConfigError(f"perf.{key} is unset: build the deployment with sim.simulation.build (which applies the calibration) or set it")
    return float(value)


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
            root = (-b + math.sqrt(b * b + 2 * q * x)) / q
        else:
            root = x / a
        done = max(1, base_k + math.ceil(root - 1e-9))
        t = self.elapsed_s(done)
        while t < elapsed_s:  # guard against rounding in the root
            done += 1
            t = self.elapsed_s(done)
        while done > 1:
            before = self.elapsed_s(done - 1)
            if before < elapsed_s:
                break
            done, t = done - 1, before
        return done, t


class PerformanceModel(Protocol):
    """Time of one iteration of a worker's engine, in seconds."""

    def iteration_time_s(
        self,
        prefill_tokens: int,
        prefill_pairs: float,
        prefill_kv_tokens: float,
        decode_tokens: int,
        decode_context_tokens: float,
        prefill_chunks: int = 1,
    ) -> float:
        """Seconds for an iteration with these prefill and decode parts.

        ``prefill_pairs``: (query, key) pairs the prefill chunks attend (causal, over full layers);
        ``prefill_kv_tokens``: context tokens whose KV the chunks read; ``decode_context_tokens``:
        total context of the decode requests (each decode token attends its whole context);
        ``prefill_chunks``: how many prompts the prefill tokens belong to.
        """
        ...

    def decode_run(self, batch: int, context_tokens: float, growth_tokens: float) -> DecodeRun:
        """The decode-only iterations of ``batch`` requests holding ``context_tokens`` in all, which
        grow by ``growth_tokens`` per iteration (``batch`` without speculative decoding)."""
        ...


class ConstantPerf:
    """A fixed time per iteration plus a time per processed token."""

    def __init__(self, cfg: PerfConfig):  # the ranges of both numbers are checked on the schema
        self.iteration_s = cfg.constant_iteration_s
        self.per_token_s = cfg.constant_per_token_s

    def iteration_time_s(self, prefill_tokens, prefill_pairs, prefill_kv_tokens, decode_tokens, decode_context_tokens, prefill_chunks=1):
        return self.iteration_s + self.per_token_s * (prefill_tokens + decode_tokens)

    def decode_run(self, batch: int, context_tokens: float, growth_tokens: float) -> DecodeRun:
        return DecodeRun(self.iteration_s + self.per_token_s * batch, 0.0, 0.0, 0.0, 0.0)


class RooflinePerf:
    """Iteration time of a worker of ``tp`` GPUs from peak rates, shapes, layout and efficiencies.

    Times are those of the busiest GPU of the worker. Per GPU, each GEMM group (the non-expert layers,
    the routed experts, the output head) takes the larger of its FLOPs over the tensor-core rate and its
    weight bytes over HBM bandwidth; attention the larger of its FLOPs and the KV bytes it reads.

    Layout. With tensor-parallel attention every GPU holds 1/tp of the non-expert weights and reads
    the whole MLA latent (GQA: its share of the KV heads); each layer all-reduces its output. With
    ``dp_attn`` every GPU holds all non-expert weights and attends for its own 1/tp of the requests
    (the busiest holds ⌈B/tp⌉ of B), so it reads only their KV cache, and no all-reduce is needed. The
    routed experts are split over ``ep`` groups; a MoE layer moves each token to its top-k experts and
    back (all-to-all), and waits for the busiest group: with N = T·k routings of T tokens over ``ep``
    groups, the expected maximum load is about N/ep·(1 + √(2·ln(ep)·(ep−1)/N)) (the normal tail of a
    multinomial). The weight bytes of the experts are those of the experts the tokens hit.

    Speculative decoding (MTP) makes each decode request ``1 + d`` query tokens for the main model and
    adds ``d`` sequential passes of the draft module (``draft_layers`` layers plus the head) at one token
    per request.
    """

    def __init__(
        self, platform: Platform, model: ModelArch, precision: Precision, worker: WorkerConfig, cfg: PerfConfig, spec: Speculation | None = None
    ):
        # their ranges are checked on the schema (perf.* and calibration.*), before the calibration fills them in
        factors = {key: _calibrated_value(cfg, key) for key in _EFFICIENCIES + ("iteration_overhead_s", "collective_latency_s")}
        spec = spec or Speculation(SpeculativeConfig())
        tp = worker.tp
        ep = worker.ep or tp if model.is_moe else 1
        dp = worker.dp_attn
        self.tp, self.ep, self.dp_attn = tp, ep, dp
        self.model = model
        self.gemm_flops_per_s = platform.peak_flops(precision.compute_dtype) * factors["compute_efficiency"]
        # Attention kernels run in BF16 (the KV cache is dequantised on load).
        self.attn_flops_per_s = platform.peak_flops("bf16") * factors["attention_efficiency"]
        self.hbm_bytes_per_s = platform.hbm_bytes_per_s * factors["memory_efficiency"]
        self.link_bytes_per_s = platform.link_bytes_per_s(tp) * factors["comm_efficiency"]
        self.overhead_s = factors["iteration_overhead_s"]

        # Per GPU. Read every iteration: the non-expert weights (all of them with dp_attn, 1/tp without)
        # and the BF16 output head for sampled tokens; the input embedding is only looked up.
        wb = precision.weight_bytes
        replicas = 1 if dp else tp
        self.dense_flops_per_token = 2.0 * model.non_expert_params / tp
        self.dense_bytes = model.non_expert_params * wb / replicas
        self.head_flops_per_token = model.head_flops_per_sampled_token / tp
        self.head_bytes = model.head_params * 2.0 / replicas
        self.expert_flops_per_routing = 2.0 * model.moe_layers * model.expert_params / tp
        self.expert_bytes = model.moe_layers * model.expert_params * wb / tp  # one expert (all layers), per GPU
        # ep not dividing the experts: redundant copies fill the slots, and a hit expert may be read twice
        self.expert_copies = model.expert_slots(ep) / model.cfg.n_routed_experts if model.is_moe else 1.0
        self.attn_pair_flops_prefill = model.attention_flops_per_pair(decode=False) / tp
        self.attn_pair_flops_decode = model.attention_flops_per_pair(decode=True) / tp
        self.window_flops_prefill = model.window_attention_flops_per_token(decode=False) / tp
        self.window_flops_decode = model.window_attention_flops_per_token(decode=True) / tp
        shards = kv_shards(model, worker)
        self.kv_bytes_per_token = model.kv_bytes_per_token(precision.kv_dtype) / shards
        self.kv_window_bytes = model.kv_bytes_fixed_per_request(precision.kv_dtype) / shards

        # Communication per token, per GPU. Tensor-parallel attention all-reduces every layer's output
        # (ring: each rank sends 2(tp-1)/tp of the BF16 hidden state), and dense MLPs theirs. With
        # expert parallelism (ep > 1) a MoE layer exchanges tokens all-to-all: each rank dispatches its
        # 1/tp share of the tokens to their top-k experts and receives their outputs back, the
        # (ep-1)/ep held by other groups crossing the link; without it, MoE layers all-reduce.
        hidden, layers = model.cfg.hidden, model.cfg.layers
        allreduce_bytes = 2 * (tp - 1) / tp * hidden * 2.0 if tp > 1 else 0.0
        if model.is_moe and ep > 1:
            exchanged = model.moe_dispatch_bytes_per_token(precision.activation_dtype) + model.moe_combine_bytes_per_token()
            self.moe_comm_bytes_per_token = exchanged / tp * (ep - 1) / ep
            moe_collectives = 2 * model.moe_layers
            moe_allreduce = 0.0
        else:
            self.moe_comm_bytes_per_token = 0.0
            moe_allreduce = model.moe_layers * allreduce_bytes
            moe_collectives = model.moe_layers if tp > 1 else 0
        if dp:
            self.allreduce_bytes_per_token = 0.0
            collectives = moe_collectives
        else:
            self.allreduce_bytes_per_token = (layers + model.dense_layers) * allreduce_bytes + moe_allreduce
            collectives = (layers + model.dense_layers if tp > 1 else 0) + moe_collectives
        self.collective_s = collectives * factors["collective_latency_s"]

        # Speculative decoding: query tokens per decode request, and the draft passes' share of a layer.
        self.query_tokens = spec.query_tokens
        self.drafts = spec.draft_tokens
        self.draft_share = spec.draft_layers / layers  # the draft module, as a fraction of the main layers
        self._flops_s_per_context_token = self.attn_pair_flops_decode / self.attn_flops_per_s
        self._bytes_s_per_context_token = self.kv_bytes_per_token / self.hbm_bytes_per_s
        self._expert_cache: dict[int, tuple[float, float]] = {}
        self._balanced_cache: dict[int, float] = {}  # layers_time_s with share 1
        self._decode_constants: dict[int, tuple[float, ...]] = {}

    @property
    def comm_bytes_per_token(self) -> float:
        """Bytes one token makes a GPU send, with the experts' load balanced."""
        return self.allreduce_bytes_per_token + self.moe_comm_bytes_per_token

    # --- the parts of an iteration ------------------------------------------------------------
    def moe_imbalance(self, tokens: float) -> float:
        """Load of the busiest expert-parallel group over the mean, for ``tokens`` tokens routed."""
        ep = self.ep
        if ep <= 1 or tokens <= 0:
            return 1.0
        routings = tokens * self.model.cfg.top_k
        return min(float(ep), 1.0 + math.sqrt(2.0 * math.log(ep) * (ep - 1) / routings))

    def experts_hit(self, tokens: int) -> float:
        """Distinct routed experts the busiest expert-parallel group's GPUs read for ``tokens`` tokens
        (the expected distinct experts hit, scaled by the imbalance, at most all of them, times the
        copies per expert when redundant copies fill the slots)."""
        expected = self.model.expected_distinct_experts(tokens) * self.moe_imbalance(tokens)
        return min(self.model.cfg.n_routed_experts, expected) * self.expert_copies

    def weight_bytes_read(self, tokens: int) -> float:
        """Layer weight bytes the busiest GPU reads in an iteration of ``tokens`` tokens (head excluded)."""
        return self.dense_bytes + (self.experts_hit(tokens) * self.expert_bytes if self.model.is_moe else 0.0)

    def layers_time_s(self, tokens: int, share: float = 1.0) -> float:
        """Seconds of the GEMMs and communication of all layers for ``tokens`` tokens, when the busiest
        GPU holds ``share`` times its even part of them (dp_attn; 1 with tensor-parallel attention)."""
        if share == 1.0:
            cached = self._balanced_cache.get(tokens)
            if cached is not None:
                return cached
        f, b = self.gemm_flops_per_s, self.hbm_bytes_per_s
        t = max(share * tokens * self.dense_flops_per_token / f, self.dense_bytes / b)
        experts_s, moe_bytes = self._expert_cache.get(tokens) or self._experts(tokens)
        comm_bytes = tokens * self.allreduce_bytes_per_token + share * moe_bytes
        t += experts_s + self.collective_s + comm_bytes / self.link_bytes_per_s
        if share == 1.0:
            self._balanced_cache[tokens] = t
        return t

    def _experts(self, tokens: int) -> tuple[float, float]:
        """Seconds of the routed experts' GEMMs for ``tokens`` tokens on the busiest expert-parallel
        group, and the bytes a GPU exchanges with the other groups (cached per token count)."""
        if not self.model.is_moe:
            costs = (0.0, 0.0)
        else:
            imbalance = self.moe_imbalance(tokens)
            routings = tokens * self.model.cfg.top_k * imbalance
            experts_s = max(
                routings * self.expert_flops_per_routing / self.gemm_flops_per_s,
                self.experts_hit(tokens) * self.expert_bytes / self.hbm_bytes_per_s,
            )
            costs = (experts_s, tokens * self.moe_comm_bytes_per_token * imbalance)
        self._expert_cache[tokens] = costs
        return costs

    def head_time_s(self, sampled: int) -> float:
        """Seconds of the output head for ``sampled`` tokens (a prompt's one sampled token is neglected)."""
        if not sampled:
            return 0.0
        return max(sampled * self.head_flops_per_token / self.gemm_flops_per_s, self.head_bytes / self.hbm_bytes_per_s)

    def busiest_share(self, requests: int) -> float:
        """With dp_attn: the busiest GPU's part of the batch over the even part, when its ``requests``
        (prompt chunks and decoding requests, assumed of similar size) are spread whole over the GPUs."""
        if not self.dp_attn or requests <= 0:
            return 1.0
        return -(-requests // self.tp) * self.tp / requests

    def iteration_time_s(self, prefill_tokens, prefill_pairs, prefill_kv_tokens, decode_tokens, decode_context_tokens, prefill_chunks=1):
        """``decode_tokens``: decode requests (each ``1 + d`` query tokens with MTP); ``prefill_chunks``:
        the prompts the prefill tokens belong to (for the balance of dp_attn)."""
        q, d = self.query_tokens, self.drafts
        tokens = prefill_tokens + decode_tokens * q
        # Balance of dp_attn by whole requests: a prompt chunk counts as one, like a decoding request
        # (serving engines schedule each attention rank's own requests and chunks; one engine-wide token
        # budget here cannot say which rank a chunk lands on, so a long chunk beside a few decoding
        # requests is under-weighted).
        share = self.busiest_share(decode_tokens + (prefill_chunks if prefill_tokens else 0)) if self.dp_attn else 1.0
        t = self.layers_time_s(tokens, share) + self.head_time_s(decode_tokens * q) + self.overhead_s
        if d and decode_tokens:
            t += d * (self.draft_share * (self.layers_time_s(decode_tokens, share) + self.overhead_s) + self.head_time_s(decode_tokens))
        draft = d * self.draft_share
        attn_flops = share * (
            prefill_pairs * self.attn_pair_flops_prefill
            + prefill_tokens * self.window_flops_prefill
            + (q + draft) * (decode_context_tokens * self.attn_pair_flops_decode + decode_tokens * self.window_flops_decode)
        )
        kv_bytes = share * (
            (prefill_kv_tokens + (1 + draft) * decode_context_tokens) * self.kv_bytes_per_token
            + ((1 + draft) * decode_tokens + (prefill_tokens > 0)) * self.kv_window_bytes
        )
        return t + max(attn_flops / self.attn_flops_per_s, kv_bytes / self.hbm_bytes_per_s)

    def decode_run(self, batch: int, context_tokens: float, growth_tokens: float) -> DecodeRun:
        """Attention = max(compute line, memory line), each affine in the context, which grows by
        ``growth_tokens`` per iteration."""
        c, w1, f, w2, b = self._decode_constants.get(batch) or self._decode_constants_for(batch)
        return DecodeRun(c, context_tokens * f + w1, growth_tokens * f, context_tokens * b + w2, growth_tokens * b)

    def _decode_constants_for(self, batch: int) -> tuple[float, ...]:
        """What a decode iteration's time takes from the batch alone: GEMMs, communication, overhead
        (c), the windows' attention (w1, w2), the seconds per context token of attention's compute and
        memory lines (f, b)."""
        c = self.iteration_time_s(0, 0.0, 0.0, batch, 0.0)
        share = self.busiest_share(batch)
        draft = self.drafts * self.draft_share
        w1 = share * (self.query_tokens + draft) * batch * self.window_flops_decode / self.attn_flops_per_s
        w2 = share * (1 + draft) * batch * self.kv_window_bytes / self.hbm_bytes_per_s
        c -= max(w1, w2)  # iteration_time_s counted the windows' attention: it belongs to the max() terms
        f = self._flops_s_per_context_token * share * (self.query_tokens + draft)
        b = self._bytes_s_per_context_token * share * (1 + draft)
        constants = (c, w1, f, w2, b)
        self._decode_constants[batch] = constants
        return constants


def kv_shards(model: ModelArch, worker: WorkerConfig) -> int:
    """GPUs the KV cache of one token is split over: with dp_attn a request lives on one GPU (its
    cache is the worker's total over tp GPUs); otherwise GQA splits KV heads and MLA replicates."""
    return worker.tp if worker.dp_attn else model.kv_shards(worker.tp)


def build_perf_model(
    platform: Platform, model: ModelArch, precision: Precision, worker: WorkerConfig, cfg: PerfConfig, spec: Speculation | None = None
) -> PerformanceModel:
    """The performance model named by ``perf.kind``."""
    if cfg.kind == "roofline":
        return RooflinePerf(platform, model, precision, worker, cfg, spec)
    if cfg.kind == "constant":
        return ConstantPerf(cfg)
    raise ConfigError(f"perf.kind={cfg.kind!r} is unknown; use 'roofline' or 'constant'")


def estimate_worker_capacity_rps(
    perf: PerformanceModel,
    engine: EngineConfig,
    kv_capacity_tokens: float,
    kv_fixed_tokens: float,
    mean_input: float,
    mean_output: float,
    tokens_per_iteration: float = 1.0,
    prefill: bool = True,
) -> float:
    """Requests per second one worker sustains when saturated, from the performance model alone.

    The decode batch is the smaller of the batch limit and the number of average requests (holding
    their prompt and half their output) that fit in the KV cache. A request costs its prefill (timed
    as the marginal time of its tokens in a chunked iteration) plus its share of ``mean_output``
    decode iterations at that batch (fewer with speculative decoding). Used to turn a ``load_fraction`` into an arrival rate, so one
    workload preset means the same load on any fleet.
    """
    tokens_held = mean_input + mean_output / 2 + kv_fixed_tokens
    batch = max(1.0, min(engine.max_batch_size, kv_capacity_tokens / tokens_held))
    b = int(batch)
    context = b * (mean_input + mean_output / 2)
    decode_iter_s = perf.iteration_time_s(0, 0.0, 0.0, b, context)
    chunk = min(engine.max_tokens_per_iteration, int(mean_input))
    chunk = max(chunk, 1)
    with_chunk = perf.iteration_time_s(chunk, chunk * mean_input / 2, mean_input / 2, b, context, max(1, round(chunk / mean_input)))
    prefill_s = (with_chunk - decode_iter_s) * mean_input / chunk if prefill else 0.0
    seconds_per_request = prefill_s + mean_output / tokens_per_iteration * decode_iter_s / b
    return 1.0 / seconds_per_request
