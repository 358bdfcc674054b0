"""Model shapes against the published parameter counts and KV-cache sizes."""

from __future__ import annotations

import pytest

from sim.spec.model import ModelArch
from tests.conftest import make_config

# KV-cache bytes per token at BF16, as published (data/reference/model_architectures.csv)
PUBLISHED_KV_BF16 = {
    "deepseek_r1": 70272, "llama3_70b": 327680, "llama3_405b": 516096, "qwen3_235b": 192512,
    "gpt_oss_120b": 36864,  # full-attention layers only; sliding-window layers hold at most 128 tokens
    "llama2_70b": 327680, "mixtral_8x7b": 131072,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_KV_BF16))
def test_shapes_reproduce_published_sizes(name):
    model = ModelArch(make_config(f"model={name}").model)
    assert model.total_params / 1e9 == pytest.approx(model.cfg.total_params_b, rel=0.02)
    assert model.kv_bytes_per_token("bf16") == PUBLISHED_KV_BF16[name]
    # active parameters: published figures differ in whether they count embeddings
    assert model.active_params / 1e9 == pytest.approx(model.cfg.active_params_b, rel=0.15)


def test_attention_flops_grow_with_context_and_mla_decode_is_absorbed():
    ds = ModelArch(make_config("model=deepseek_r1").model)
    # absorbed MLA: scores over 576-wide latent + values over 512, per head, 128 heads, 61 layers
    assert ds.attention_flops_per_pair(decode=True) == 2 * (576 + 512) * 128 * 61
    assert ds.attention_flops_per_pair(decode=False) == (2 * 192 + 2 * 128) * 128 * 61
    llama = ModelArch(make_config("model=llama3_70b").model)
    assert llama.attention_flops_per_pair(decode=True) == 4 * 128 * 64 * 80


def test_activation_traffic_follows_the_shapes():
    """DeepSeek-R1 (61 layers, 3 dense, 58 MoE, hidden 7168, dense MLP 18432, one shared and top-8 routed
    experts of width 2048): the bytes its activations move through HBM between the GEMMs, by hand."""
    ds = ModelArch(make_config("model=deepseek_r1").model)
    assert ds.hidden_state_bytes_per_token() == 61 * 10 * 7168 * 2  # two norms, two residual adds per layer
    gated = 2 * 2 * 2 + 2 * 1  # gate and up written and read in BF16, their product written and read in FP8
    assert ds.mlp_intermediate_bytes_per_token("fp8") == (3 * 18432 + 58 * 2048) * gated
    # a dispatched copy is also written where it arrives, and its output where the combine delivers it
    assert ds.routed_copy_bytes("fp8", dispatched=True) == (58 * 7168 * (2 * 1 + 3 * 2), 58 * 2048 * gated)
    assert ds.routed_copy_bytes("fp8", dispatched=False) == (58 * 7168 * (1 + 2 * 2), 58 * 2048 * gated)
    # narrower activations move fewer bytes; a dense model routes nothing
    assert ds.routed_copy_bytes("fp4", True)[0] < ds.routed_copy_bytes("fp8", True)[0] < ds.routed_copy_bytes("bf16", True)[0]
    llama = ModelArch(make_config("model=llama3_70b").model)
    assert llama.mlp_intermediate_bytes_per_token("bf16") == 80 * 28672 * 12 and llama.moe_layers == 0
