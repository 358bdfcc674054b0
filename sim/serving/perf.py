"""Performance models: how long one engine iteration takes on one worker, and where the time goes.

An iteration processes a batch of prefill chunks and decode tokens. Its shape is summarised by a few
numbers (tokens, attention pairs, KV tokens read) and a model turns it into seconds:

* :class:`RooflinePerf` derives the time from physics. Per GPU of the worker, the GEMMs take the
  larger of their FLOPs over the tensor-core rate and their weight bytes over HBM bandwidth; attention
  takes the larger of its FLOPs and the KV-cache bytes it reads; activations' passes through HBM between
  the GEMMs cost their bytes; the collectives cost their bytes on each kind of link over the rate the
  worker gets there, plus their latencies (:mod:`sim.network.collectives`); fixed costs are every layer's
  kernels at their floor and the engine's scheduling. Rates are what the platform's kernels achieve
  (:mod:`sim.spec.efficiency`). :meth:`RooflinePerf.iteration_parts` gives the time in :data:`PARTS`.
* :class:`sim.serving.constant_perf.ConstantPerf`: a fixed time per iteration plus a time per token.

A run of decode-only iterations with a fixed batch is predictable: the batch's total context grows by
one token per request per iteration. Both models describe such a run as a :class:`DecodeRun`, whose
i-th iteration takes ``c + max(p1 + q1·i, p2 + q2·i)`` seconds (the attention term is the larger of a
compute and a memory line, both affine in the context), so the time of its first k iterations, and the
iteration in progress at a given moment, are closed-form: the engine advances any number of decode
iterations in O(1). The rates of a worker's links are constant over a run; a worker whose links are
shared learns of new rates from the fabric and plans its next run with them (:meth:`RooflinePerf.set_link_rates`).
"""

from __future__ import annotations

import math
from typing import Protocol

from sim.base.config import ConfigError, PerfConfig, SpeculativeConfig, WorkerConfig
from sim.network.collectives import Collectives
from sim.serving.iteration import PARTS, DecodeRun, Parts  # noqa: F401 (PARTS: part of this module's API)
from sim.serving.speculative import Speculation
from sim.spec.model import ModelArch
from sim.spec.platform import Platform
from sim.spec.precision import Precision

_EFFICIENCIES = (
    "compute_efficiency", "attention_efficiency", "memory_efficiency", "weight_read_efficiency", "alltoall_scaleup_efficiency",
    "alltoall_scaleout_efficiency", "allreduce_scaleup_efficiency", "allreduce_scaleout_efficiency",
)

def _calibrated_value(cfg: PerfConfig, key: str) -> float:  # None: the calibration did not fill it in
    value = getattr(cfg, key)
    if value is None:
        raise ConfigError(f"perf.{key} is unset: build the deployment with sim.run.simulation.build (which applies the calibration) or set it")
    return float(value)


class PerformanceModel(Protocol):
    """Time of one iteration of a worker's engine, in seconds."""

    def iteration_time_s(
        self, prefill_tokens: int, prefill_pairs: float, prefill_kv_tokens: float, decode_tokens: int,
        decode_context_tokens: float, prefill_chunks: int = 1,
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


class RooflinePerf:
    """Iteration time of a worker of ``tp`` GPUs from peak rates, shapes, layout, placement and efficiencies.

    Times are those of the busiest GPU of the worker. Per GPU, each GEMM group (the non-expert layers,
    the routed experts, the output head) and attention take the larger of their FLOPs and bytes (the experts'
    grouped GEMMs at the platform's grouped/dense ratio of the GEMM efficiencies); the
    activations' HBM traffic outside them (:meth:`sim.spec.model.ModelArch.routed_copy_bytes` and its
    neighbours) runs in kernels of its own, at HBM bandwidth, after them.

    Layout. With tensor-parallel attention every GPU holds 1/tp of the non-expert weights and reads
    the whole MLA latent (GQA: its share of the KV heads); each layer all-reduces its output. With
    ``dp_attn`` every GPU holds all non-expert weights and attends for its own 1/tp of the requests
    (the busiest holds ⌈B/tp⌉ of B), and no all-reduce is needed. A MoE layer moves each token to its
    top-k experts over ``ep`` groups and back (all-to-all), and waits for the busiest group: with N = T·k
    routings, its expected load is about N/ep·(1 + √(2·ln(ep)·(ep−1)/N)) (a multinomial's normal tail),
    and its GPUs receive that much more. Expert weight bytes are those of the experts the tokens hit.

    Collectives (:class:`sim.network.collectives.Collectives`, from where the worker sits): each kind of
    link at its rate (alone, or the worker's share when it shares links) times the achieved fraction of
    that algorithm on that link, plus latencies. With ``worker.overlap_comm`` two micro-batches alternate:
    one's collectives run during the other's GEMMs, so only what exceeds the GEMMs is exposed, at the
    price of twice the collectives' latencies and of reading the weights twice (attention and the
    iteration overhead are not overlapped).

    Speculative decoding (MTP): each decode request is ``1 + d`` query tokens, plus ``d`` sequential passes
    of the draft module (``draft_layers`` layers and the head) at one token per request.
    """

    def __init__(
        self,
        platform: Platform,
        model: ModelArch,
        precision: Precision,
        worker: WorkerConfig,
        cfg: PerfConfig,
        spec: Speculation | None = None,
        collectives: Collectives | None = None,
    ):
        # their ranges are checked on the schema (perf.* and calibration.*), before the calibration fills them in
        factors = {key: _calibrated_value(cfg, key) for key in _EFFICIENCIES + ("iteration_overhead_s", "collective_latency_s", "kernel_floor_s")}
        spec = spec or Speculation(SpeculativeConfig())
        comm = collectives or Collectives.alone(platform.topology, worker.tp, factors["collective_latency_s"])
        tp = worker.tp
        ep = worker.ep or tp if model.is_moe else 1
        dp = worker.dp_attn
        self.tp, self.ep, self.dp_attn, self.overlap = tp, ep, dp, worker.overlap_comm
        self.model = model
        self.collectives = comm
        self.gemm_flops_per_s = platform.peak_flops(precision.compute_dtype) * factors["compute_efficiency"]
        # Attention kernels run in BF16 (the KV cache is dequantised on load).
        self.attn_flops_per_s = platform.peak_flops("bf16") * factors["attention_efficiency"]
        self.hbm_bytes_per_s = platform.hbm_bytes_per_s * factors["memory_efficiency"]  # KV cache, activations
        self.weight_bytes_per_s = platform.hbm_bytes_per_s * factors["weight_read_efficiency"]  # GEMMs bound by their weights
        # The routed experts' grouped GEMMs: their kernels' fraction over the dense GEMMs' (the platform's measurements)
        self.expert_flops_per_s = self.gemm_flops_per_s * platform.grouped_compute_ratio.get(precision.compute_dtype, 1.0)
        self.expert_weight_bytes_per_s = min(platform.hbm_bytes_per_s, self.weight_bytes_per_s * platform.grouped_weight_read_ratio.get(precision.weight_dtype, 1.0))
        # Fixed costs: the kernels of every layer at their floor (launch gap, ramp), once per pass through the
        # layers (a draft pass: its share of them), and the engine's scheduling and sampling once per iteration.
        self.layers_fixed_s = model.cfg.layers * model.kernels_per_layer() * factors["kernel_floor_s"]
        self.overhead_s = factors["iteration_overhead_s"] + self.layers_fixed_s
        self.weight_reads = 2.0 if self.overlap else 1.0  # two micro-batches read the weights twice

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
        # Activations' HBM traffic outside the weight reads, per token on a GPU (the hidden state's passes
        # whole, on each GPU under tensor parallelism) and per routed copy (its hidden state on one of the
        # ep groups, its intermediate width split over the group's GPUs).
        act = precision.activation_dtype
        self.activation_bytes_per_token = model.hidden_state_bytes_per_token() / (tp if dp else 1) + model.mlp_intermediate_bytes_per_token(act) / tp
        hidden, intermediate = model.routed_copy_bytes(act, dispatched=ep > 1) if model.is_moe else (0.0, 0.0)
        self.activation_bytes_per_routing = hidden / ep + intermediate / tp
        self.attn_pair_flops_prefill = model.attention_flops_per_pair(decode=False) / tp
        self.attn_pair_flops_decode = model.attention_flops_per_pair(decode=True) / tp
        self.window_flops_prefill = model.window_attention_flops_per_token(decode=False) / tp
        self.window_flops_decode = model.window_attention_flops_per_token(decode=True) / tp
        shards = model.kv_shards(tp, dp)
        self.kv_bytes_per_token = model.kv_bytes_per_token(precision.kv_dtype) / shards
        self.kv_window_bytes = model.kv_bytes_fixed_per_request(precision.kv_dtype) / shards

        # Communication per token of the worker, per GPU. Tensor-parallel attention all-reduces every
        # layer's BF16 output, and dense MLPs theirs. With ep > 1 a MoE layer's all-to-all: each rank
        # dispatches its 1/tp of the tokens, a copy per routed expert held by another group
        # (ModelArch.moe_copies_sent), and receives their outputs back; without it, MoE layers all-reduce.
        layers = model.cfg.layers
        if model.is_moe and ep > 1:
            copy = model.moe_dispatch_bytes_per_token(precision.activation_dtype) + model.moe_combine_bytes_per_token()
            moe_bytes_per_token = copy * model.moe_copies_sent(ep) / tp
            alltoalls = 2 * model.moe_layers
            allreduces = 0 if dp or tp == 1 else layers + model.dense_layers
        else:
            moe_bytes_per_token = 0.0
            alltoalls = 0
            allreduces = 0 if dp or tp == 1 else layers + model.dense_layers + model.moe_layers
        vector = model.cfg.hidden * 2.0  # the BF16 hidden state of one token
        self.a2a_up_per_token, self.a2a_out_per_token = moe_bytes_per_token * comm.alltoall_up_share, moe_bytes_per_token * comm.alltoall_out_share
        self.ar_up_per_token = allreduces * vector * comm.allreduce_up_factor
        self.ar_out_per_token = allreduces * vector * comm.allreduce_out_factor
        self.alltoall_latency_s, self.allreduce_latency_s = alltoalls * comm.alltoall_latency_s * self.weight_reads, allreduces * comm.allreduce_latency_s * self.weight_reads
        self.a2a_up_eff, self.a2a_out_eff = factors["alltoall_scaleup_efficiency"], factors["alltoall_scaleout_efficiency"]
        self.ar_up_eff, self.ar_out_eff = factors["allreduce_scaleup_efficiency"], factors["allreduce_scaleout_efficiency"]
        self.scaleup_bytes_per_s, self.scaleout_bytes_per_s = comm.scaleup_bytes_per_s, comm.scaleout_bytes_per_s  # per GPU port: alone, or the fabric's share

        # Speculative decoding: query tokens per decode request, and the draft passes' share of a layer.
        self.query_tokens = spec.query_tokens
        self.drafts = spec.draft_tokens
        self.draft_share = spec.draft_layers / layers  # the draft module, as a fraction of the main layers
        self._flops_s_per_context_token = self.attn_pair_flops_decode / self.attn_flops_per_s
        self._bytes_s_per_context_token = self.kv_bytes_per_token / self.hbm_bytes_per_s
        self._expert_cache: dict[int, tuple[float, float, float]] = {}
        self._balanced_cache: dict[int, Parts] = {}  # layer parts with share 1
        self._decode_constants: dict[int, tuple[float, float, float, float, float, Parts]] = {}

    def set_link_rates(self, scaleup_bytes_per_s: float, scaleout_bytes_per_s: float) -> None:
        """The rates the fabric now gives the worker per GPU port; later iterations are timed with them."""
        if scaleup_bytes_per_s != self.scaleup_bytes_per_s or scaleout_bytes_per_s != self.scaleout_bytes_per_s:
            self.scaleup_bytes_per_s, self.scaleout_bytes_per_s = scaleup_bytes_per_s, scaleout_bytes_per_s
            self._balanced_cache = {}
            self._decode_constants = {}

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

    def layer_parts(self, tokens: int, share: float = 1.0) -> Parts:
        """The :data:`PARTS` of all layers' GEMMs and collectives for ``tokens`` tokens, when the busiest
        GPU holds ``share`` times its even part of them (dp_attn; 1 with tensor-parallel attention)."""
        if share == 1.0:
            cached = self._balanced_cache.get(tokens)
            if cached is not None:
                return cached
        f, b, reads = self.gemm_flops_per_s, self.hbm_bytes_per_s, self.weight_reads
        parts = Parts()
        parts.add_gemm(share * tokens * self.dense_flops_per_token / f, reads * self.dense_bytes / self.weight_bytes_per_s)
        experts_c, experts_m, imbalance = self._expert_cache.get(tokens) or self._experts(tokens)
        if experts_c or experts_m:
            parts.add_gemm(experts_c, experts_m * reads)
        routings = tokens * self.model.cfg.top_k * imbalance if self.model.is_moe else 0.0
        parts.activation_memory_s = (share * tokens * self.activation_bytes_per_token + routings * self.activation_bytes_per_routing) / b
        a2a = share * tokens * imbalance  # tokens the busiest GPU exchanges
        up, out = self.scaleup_bytes_per_s, self.scaleout_bytes_per_s
        parts.alltoall_link_s = max(a2a * self.a2a_up_per_token / (self.a2a_up_eff * up), a2a * self.a2a_out_per_token / (self.a2a_out_eff * out))
        parts.allreduce_link_s = tokens * max(self.ar_up_per_token / (self.ar_up_eff * up), self.ar_out_per_token / (self.ar_out_eff * out))
        parts.alltoall_latency_s = self.alltoall_latency_s if tokens else 0.0
        parts.allreduce_latency_s = self.allreduce_latency_s if tokens else 0.0
        if self.overlap:  # what the other micro-batch's GEMMs hide is not waited for
            comm = parts.alltoall_link_s + parts.alltoall_latency_s + parts.allreduce_link_s + parts.allreduce_latency_s
            exposed = max(0.0, comm - parts.gemm_compute_s - parts.gemm_memory_s) / comm if comm > 0 else 0.0
            parts.alltoall_link_s, parts.alltoall_latency_s = exposed * parts.alltoall_link_s, exposed * parts.alltoall_latency_s
            parts.allreduce_link_s, parts.allreduce_latency_s = exposed * parts.allreduce_link_s, exposed * parts.allreduce_latency_s
        parts.scaleup_bytes = tokens * (self.a2a_up_per_token + self.ar_up_per_token)
        parts.scaleout_bytes = tokens * (self.a2a_out_per_token + self.ar_out_per_token)
        if share == 1.0:
            self._balanced_cache[tokens] = parts
        return parts

    def _experts(self, tokens: int) -> tuple[float, float, float]:
        """Compute and weight-read seconds of the routed experts' GEMMs for ``tokens`` tokens on the
        busiest expert-parallel group, and its imbalance (cached per token count)."""
        if not self.model.is_moe:
            costs = (0.0, 0.0, 1.0)
        else:
            imbalance = self.moe_imbalance(tokens)
            routings = tokens * self.model.cfg.top_k * imbalance
            costs = (
                routings * self.expert_flops_per_routing / self.expert_flops_per_s,
                self.experts_hit(tokens) * self.expert_bytes / self.expert_weight_bytes_per_s,
                imbalance,
            )
        self._expert_cache[tokens] = costs
        return costs

    def _add_head(self, parts: Parts, sampled: int, times: float) -> None:
        """The output head for ``sampled`` tokens, ``times`` over (a prompt's one sampled token is neglected)."""
        if sampled:
            parts.add_gemm(times * sampled * self.head_flops_per_token / self.gemm_flops_per_s, times * self.head_bytes / self.weight_bytes_per_s)

    def busiest_share(self, requests: int) -> float:
        """With dp_attn: the busiest GPU's part of the batch over the even part, when its ``requests``
        (prompt chunks and decoding requests, assumed of similar size) are spread whole over the GPUs."""
        if not self.dp_attn or requests <= 0:
            return 1.0
        return -(-requests // self.tp) * self.tp / requests

    def iteration_parts(self, prefill_tokens, prefill_pairs, prefill_kv_tokens, decode_tokens, decode_context_tokens, prefill_chunks=1) -> Parts:
        """The iteration's time in :data:`PARTS` (see :meth:`iteration_time_s`)."""
        q, d = self.query_tokens, self.drafts
        tokens = prefill_tokens + decode_tokens * q
        # Balance of dp_attn by whole requests: a prompt chunk counts as one, like a decoding request
        # (serving engines schedule each attention rank's own requests and chunks; one engine-wide token
        # budget here cannot say which rank a chunk lands on, so a long chunk beside a few decoding
        # requests is under-weighted).
        share = self.busiest_share(decode_tokens + (prefill_chunks if prefill_tokens else 0)) if self.dp_attn else 1.0
        parts = Parts()
        parts.add(self.layer_parts(tokens, share), 1.0)
        self._add_head(parts, decode_tokens * q, 1.0)
        parts.overhead_s += self.overhead_s
        if d and decode_tokens:
            w = d * self.draft_share
            parts.add(self.layer_parts(decode_tokens, share), w)
            parts.overhead_s += w * self.layers_fixed_s
            self._add_head(parts, decode_tokens, float(d))
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
        attn_c, attn_m = attn_flops / self.attn_flops_per_s, kv_bytes / self.hbm_bytes_per_s
        if attn_c >= attn_m:
            parts.attention_compute_s += attn_c
        else:
            parts.attention_memory_s += attn_m
        return parts

    def iteration_time_s(self, prefill_tokens, prefill_pairs, prefill_kv_tokens, decode_tokens, decode_context_tokens, prefill_chunks=1):
        """``decode_tokens``: decode requests (each ``1 + d`` query tokens with MTP); ``prefill_chunks``:
        the prompts the prefill tokens belong to (for the balance of dp_attn)."""
        return self.iteration_parts(prefill_tokens, prefill_pairs, prefill_kv_tokens, decode_tokens, decode_context_tokens, prefill_chunks).seconds()

    def decode_run(self, batch: int, context_tokens: float, growth_tokens: float) -> DecodeRun:
        """Attention = max(compute line, memory line), each affine in the context, which grows by
        ``growth_tokens`` per iteration."""
        c, w1, f, w2, b, parts = self._decode_constants.get(batch) or self._decode_constants_for(batch)
        return DecodeRun(c, context_tokens * f + w1, growth_tokens * f, context_tokens * b + w2, growth_tokens * b, parts)

    def _decode_constants_for(self, batch: int) -> tuple[float, float, float, float, float, Parts]:
        """What a decode iteration's time takes from the batch alone: GEMMs, communication, overhead (c, and
        its parts), windows' attention (w1, w2), seconds per context token of attention's lines (f, b)."""
        parts = self.iteration_parts(0, 0.0, 0.0, batch, 0.0)
        parts.attention_compute_s = parts.attention_memory_s = 0.0  # the windows' attention belongs to the max() terms
        c = parts.seconds()
        share = self.busiest_share(batch)
        draft = self.drafts * self.draft_share
        w1 = share * (self.query_tokens + draft) * batch * self.window_flops_decode / self.attn_flops_per_s
        w2 = share * (1 + draft) * batch * self.kv_window_bytes / self.hbm_bytes_per_s
        f = self._flops_s_per_context_token * share * (self.query_tokens + draft)
        b = self._bytes_s_per_context_token * share * (1 + draft)
        constants = (c, w1, f, w2, b, parts)
        self._decode_constants[batch] = constants
        return constants

