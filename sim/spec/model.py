"""Model architectures and the work one token costs: FLOPs, weight bytes, KV-cache bytes.

A :class:`ModelArch` derives everything the performance model needs from the shapes published in a
model's config.json: parameter counts per component (attention, dense MLP, experts, embeddings), the
GEMM FLOPs of one token's forward pass, the attention FLOPs of one (query, context) pair, which grow
with context, and the bytes one token adds to the KV cache at a given data type.

Conventions: a multiply-add is 2 FLOPs; gated MLPs (SwiGLU) have three matrices; the input embedding
and the output head are separate matrices (untied); GEMMs count the *active* parameters of a token
(its top-k routed experts plus the shared ones); the output head runs only for tokens that are sampled
(decode tokens), a prompt's single sampled token is neglected.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.base.bounds import refuse_implausible
from sim.base.config import ConfigError, ModelConfig
from sim.spec.precision import BYTES_PER_ELEMENT


#: HBM passes over a token's hidden state per layer outside the GEMMs (see
#: :meth:`ModelArch.hidden_state_bytes_per_token`).
HIDDEN_PASSES_PER_LAYER = 10


def gated_intermediate_bytes(activation_dtype: str) -> float:
    """HBM bytes per unit of a gated MLP's intermediate width, for one token: the first GEMM writes the
    gate and up projections (BF16) and the activation reads them back, then writes their product at the
    activation type for the second GEMM to read."""
    bf16 = BYTES_PER_ELEMENT["bf16"]
    return 2 * (2 * bf16) + 2 * BYTES_PER_ELEMENT[activation_dtype]


def copies_sent(ranks: int, top_k: int) -> float:
    """Copies of a token a MoE dispatch sends to the other ``ranks`` - 1 expert-parallel ranks (and a combine
    gets back): one per routed expert held elsewhere, k (ranks - 1)/ranks under uniform routing, as the
    low-latency kernels of decoding send them (DeepEP low-latency, TensorRT-LLM's one-sided all-to-all:
    ``data/reference/collective_ops.csv`` C009-C020, C027-C033). Throughput kernels (DeepEP normal, MoRI) send a
    token once per rank holding any of its experts, (ranks - 1)(1 - (1 - 1/ranks)^k) copies: fewer bytes for
    prefill, which this count over-prices (C001-C008, C036-C038)."""
    return top_k * (ranks - 1) / ranks if ranks > 1 else 0.0


def validate_model(cfg: ModelConfig) -> None:
    """Reject shapes that do not describe a transformer, naming the field to fix (each number's own range
    is checked on the schema; here, how they fit together), and published totals the shapes disagree with."""
    if cfg.attention not in ("gqa", "mla"):
        raise ConfigError(f"model.attention={cfg.attention!r} is unknown; use 'gqa' or 'mla'")
    if cfg.attention == "mla" and min(cfg.kv_lora_rank, cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim) <= 0:
        dims = ", ".join(f"model.{k}={getattr(cfg, k)}" for k in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"))
        raise ConfigError(f"model.attention=mla needs positive latent and head dimensions (got {dims}); set them from the model's config.json")
    if cfg.attention == "gqa" and (cfg.kv_heads > cfg.q_heads or cfg.q_heads % cfg.kv_heads):
        raise ConfigError(
            f"model.kv_heads={cfg.kv_heads} must divide model.q_heads={cfg.q_heads} (grouped-query attention shares "
            "each KV head among a whole group of query heads); check the two values against the model's config.json"
        )
    if cfg.n_routed_experts:
        if not 0 < cfg.top_k <= cfg.n_routed_experts or cfg.moe_ffn_dim <= 0:
            raise ConfigError(
                f"model.top_k={cfg.top_k} must be between 1 and the {cfg.n_routed_experts} routed experts, "
                f"and model.moe_ffn_dim={cfg.moe_ffn_dim} positive; set them from the model's config.json"
            )
        if not cfg.first_k_dense < cfg.layers:
            raise ConfigError(f"model.first_k_dense={cfg.first_k_dense} must be in [0, layers={cfg.layers}); lower it")
    elif cfg.ffn_dense_dim <= 0:
        raise ConfigError(
            f"a dense model (no routed experts) needs model.ffn_dense_dim > 0 (got {cfg.ffn_dense_dim}); set it from the model's config.json"
        )
    if not cfg.sliding_window_layers < cfg.layers:
        raise ConfigError(f"model.sliding_window_layers={cfg.sliding_window_layers} must be in [0, layers={cfg.layers}); lower it")
    total_b = ModelArch(cfg).total_params / 1e9
    if not 0.75 < total_b / cfg.total_params_b < 1.33:
        why = f"the shapes give {total_b:,.1f} billion parameters; check layers, hidden, the heads and the MLP widths"
        refuse_implausible(cfg, "model.total_params_b", cfg.total_params_b, why)
    if cfg.active_params_b > cfg.total_params_b:
        refuse_implausible(cfg, "model.active_params_b", cfg.active_params_b, f"a token uses at most all {cfg.total_params_b:g} billion parameters")


@dataclass(frozen=True)
class ModelArch:
    """Shapes of one model and the per-token costs derived from them."""

    cfg: ModelConfig

    # --- structure -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def is_moe(self) -> bool:
        return self.cfg.n_routed_experts > 0

    @property
    def is_mla(self) -> bool:
        return self.cfg.attention == "mla"

    @property
    def moe_layers(self) -> int:
        return self.cfg.layers - self.cfg.first_k_dense if self.is_moe else 0

    @property
    def dense_layers(self) -> int:
        return self.cfg.layers - self.moe_layers

    @property
    def full_attention_layers(self) -> int:
        """Layers whose KV cache grows with the whole context (the rest use a sliding window)."""
        return self.cfg.layers - self.cfg.sliding_window_layers

    # --- parameters ------------------------------------------------------------------------
    @property
    def attention_params_per_layer(self) -> int:
        c = self.cfg
        if self.is_mla:
            qk_dim = c.qk_nope_head_dim + c.qk_rope_head_dim
            q = c.hidden * c.q_lora_rank + c.q_lora_rank * c.q_heads * qk_dim if c.q_lora_rank else c.hidden * c.q_heads * qk_dim
            kv = c.hidden * (c.kv_lora_rank + c.qk_rope_head_dim) + c.kv_lora_rank * c.q_heads * (c.qk_nope_head_dim + c.v_head_dim)
            return q + kv + c.q_heads * c.v_head_dim * c.hidden
        q_dim = c.q_heads * c.head_dim
        return 2 * c.hidden * q_dim + 2 * c.hidden * c.kv_heads * c.head_dim

    @property
    def dense_mlp_params(self) -> int:
        return 3 * self.cfg.hidden * self.cfg.ffn_dense_dim

    @property
    def expert_params(self) -> int:
        """Parameters of one expert (routed or shared) of one layer."""
        return 3 * self.cfg.hidden * self.cfg.moe_ffn_dim

    @property
    def router_params(self) -> int:
        return self.cfg.hidden * self.cfg.n_routed_experts

    @property
    def head_params(self) -> int:
        """The output head (vocabulary projection), run for every sampled token."""
        return self.cfg.vocab * self.cfg.hidden

    @property
    def embedding_params(self) -> int:
        """Input embedding plus output head (untied: two tables of the head's size)."""
        return 2 * self.head_params

    @property
    def routed_expert_params(self) -> int:
        """All routed-expert parameters of the model (the part expert parallelism shards)."""
        return self.moe_layers * self.cfg.n_routed_experts * self.expert_params

    def expert_slots(self, ep: int) -> int:
        """Routed-expert slots per MoE layer over ``ep`` expert-parallel groups of ⌈E/ep⌉ slots each.

        E when ``ep`` divides the E routed experts. Otherwise the extra slots hold redundant copies of
        experts, as expert-parallel load balancers place them (DeepSeek-R1's 256 experts on 48 groups:
        6 slots each, 288 in all), which keeps the groups' mean loads equal.
        """
        e = self.cfg.n_routed_experts
        return -(-e // ep) * ep if e else 0

    @property
    def non_expert_params(self) -> int:
        """Attention, dense MLPs, shared experts, routers: read every iteration whatever the batch."""
        c = self.cfg
        return (
            c.layers * self.attention_params_per_layer
            + self.dense_layers * self.dense_mlp_params
            + self.moe_layers * (c.n_shared_experts * self.expert_params + self.router_params)
        )

    @property
    def total_params(self) -> int:
        return self.non_expert_params + self.routed_expert_params + self.embedding_params

    @property
    def active_params(self) -> int:
        return self.non_expert_params + self.moe_layers * self.cfg.top_k * self.expert_params + self.embedding_params

    # --- FLOPs -----------------------------------------------------------------------------
    @property
    def gemm_flops_per_token(self) -> float:
        """Forward GEMM FLOPs of one token through all layers (output head excluded)."""
        return 2.0 * (self.non_expert_params + self.moe_layers * self.cfg.top_k * self.expert_params)

    @property
    def head_flops_per_sampled_token(self) -> float:
        return 2.0 * self.head_params

    def attention_flops_per_pair(self, decode: bool) -> float:
        """FLOPs of one query token attending one context token, over the full-attention layers.

        MLA decodes in its absorbed form (scores and values over the 512+64-wide latent) and
        prefills in its expanded form (192-wide keys, 128-wide values per head).
        """
        c = self.cfg
        if self.is_mla:
            if decode:
                per_head = 2 * (c.kv_lora_rank + c.qk_rope_head_dim) + 2 * c.kv_lora_rank
            else:
                per_head = 2 * (c.qk_nope_head_dim + c.qk_rope_head_dim) + 2 * c.v_head_dim
        else:
            per_head = 4 * c.head_dim
        return float(per_head * c.q_heads * self.full_attention_layers)

    def window_attention_flops_per_token(self, decode: bool) -> float:
        """FLOPs one token spends in the sliding-window layers (context capped at the window)."""
        if not self.cfg.sliding_window_layers:
            return 0.0
        per_layer = self.attention_flops_per_pair(decode) / max(self.full_attention_layers, 1)
        return per_layer * self.cfg.sliding_window_layers * self.cfg.sliding_window_tokens

    # --- bytes -----------------------------------------------------------------------------
    def kv_bytes_per_token(self, kv_dtype: str) -> float:
        """KV-cache bytes one context token adds, over the layers whose cache grows with context."""
        c = self.cfg
        b = BYTES_PER_ELEMENT[kv_dtype]
        if self.is_mla:
            return (c.kv_lora_rank + c.qk_rope_head_dim) * b * c.layers
        return 2 * c.kv_heads * c.head_dim * b * self.full_attention_layers

    def kv_bytes_fixed_per_request(self, kv_dtype: str) -> float:
        """KV-cache bytes of the sliding-window layers, reserved whole for every request."""
        c = self.cfg
        b = BYTES_PER_ELEMENT[kv_dtype]
        return 2 * c.kv_heads * c.head_dim * b * c.sliding_window_layers * c.sliding_window_tokens

    def kv_shards(self, tp: int, dp_attn: bool = False) -> int:
        """GPUs of a ``tp``-wide worker one token's KV cache is split over: with ``dp_attn`` a request lives
        on one GPU (the worker's cache is the sum over its GPUs); otherwise MLA's shared latent is
        replicated and GQA splits the KV heads."""
        return tp if dp_attn else 1 if self.is_mla else min(tp, self.cfg.kv_heads)

    def weight_bytes(self, weight_dtype: str) -> float:
        """Bytes of all weights: layers at ``weight_dtype``, embedding and head kept in BF16."""
        b = BYTES_PER_ELEMENT[weight_dtype]
        return (self.non_expert_params + self.routed_expert_params) * b + self.embedding_params * 2.0

    def moe_dispatch_bytes_per_token(self, activation_dtype: str) -> float:
        """Bytes of one copy of a token's hidden state dispatched over all MoE layers (at ``activation_dtype``)."""
        return self.moe_layers * self.cfg.hidden * BYTES_PER_ELEMENT[activation_dtype]

    def moe_combine_bytes_per_token(self) -> float:
        """Bytes of one copy of a token's combined expert outputs sent back over all MoE layers (BF16)."""
        return self.moe_layers * self.cfg.hidden * BYTES_PER_ELEMENT["bf16"]

    def moe_copies_sent(self, ep: int) -> float:
        """Copies of a token a dispatch sends to the other ``ep`` - 1 expert-parallel ranks: :func:`copies_sent`."""
        return copies_sent(ep, self.cfg.top_k)

    def kernels_per_layer(self) -> float:
        """Kernels one pass through a layer launches, on average over the layers, as serving engines fuse them:
        attention (norm, QKV projection, attention, output projection; MLA adds its latent norms and
        up-projection), and a dense MLP (norm, gate-up, activation, down) or a MoE block (norm, router,
        top-k, the experts' gate-up, activation and down, the weighted sum; shared experts three more).
        Dispatch and combine are priced as collectives (:mod:`sim.network.collectives`)."""
        attention = 4 + (2 if self.is_mla else 0)
        moe = 7 + (3 if self.cfg.n_shared_experts else 0)
        return attention + (self.moe_layers * moe + self.dense_layers * 4) / self.cfg.layers

    # --- activation traffic ------------------------------------------------------------------
    def hidden_state_bytes_per_token(self) -> float:
        """HBM bytes a token's BF16 hidden state moves through the kernels around each layer's GEMMs: two
        RMSNorms (a read and a write each) and two residual additions (two reads and a write each), ten
        passes per layer. Every GPU holding the token runs them whole (tensor parallelism replicates them)."""
        return self.cfg.layers * HIDDEN_PASSES_PER_LAYER * self.cfg.hidden * BYTES_PER_ELEMENT["bf16"]

    def mlp_intermediate_bytes_per_token(self, activation_dtype: str) -> float:
        """HBM bytes of the gated MLPs' intermediate activations for one token, over the dense MLPs and
        shared experts (:func:`gated_intermediate_bytes` of each; tensor parallelism splits them)."""
        c = self.cfg
        width = self.dense_layers * c.ffn_dense_dim + self.moe_layers * c.n_shared_experts * c.moe_ffn_dim
        return width * gated_intermediate_bytes(activation_dtype)

    def routed_copy_bytes(self, activation_dtype: str, dispatched: bool) -> tuple[float, float]:
        """HBM bytes one routed copy of a token moves at its expert, over the MoE layers, besides the
        expert's weights: (on the hidden state, on the intermediate activations).

        Hidden state: the first GEMM reads it (at the activation type), the second writes the output and
        the weighted sum of the top-k outputs reads it (BF16). Dispatched over an all-to-all, the copy is
        also written where it arrives, and its output written again where the combine delivers it."""
        b, bf16 = BYTES_PER_ELEMENT[activation_dtype], BYTES_PER_ELEMENT["bf16"]
        per_layer = (2 * b + 3 * bf16) if dispatched else (b + 2 * bf16)
        hidden = self.moe_layers * self.cfg.hidden * per_layer
        return hidden, self.moe_layers * self.cfg.moe_ffn_dim * gated_intermediate_bytes(activation_dtype)

    # --- routing ---------------------------------------------------------------------------
    def expected_distinct_experts(self, routed_tokens):
        """Expected number of distinct routed experts per MoE layer hit by ``routed_tokens`` tokens.

        Each token picks ``top_k`` of ``E`` experts; with uniform routing an expert is missed by one
        token with probability ``1 - k/E``, so E·(1 - (1 - k/E)^T) experts are hit in expectation.
        """
        e, k = self.cfg.n_routed_experts, self.cfg.top_k
        return e * (1.0 - (1.0 - k / e) ** routed_tokens)
