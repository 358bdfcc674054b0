"""Search spaces: the documented default rule, and the public benchmark's own spaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.base.config import ConfigError
from sim.base.errors import InputError
from sim.planning.frontier import benchmark_config, space_for
from sim.planning.layouts import Layout
from sim.planning.space import RACK_SCALE_GPUS, default_space, read_space

SPACES = Path(__file__).resolve().parents[2] / "data" / "reference" / "benchmark_search_spaces.csv"


def test_default_space_of_a_large_moe_model_on_a_rack_scale_platform():
    space = default_space(benchmark_config("platform=gb200_nvl72", "model=deepseek_r1", "precision=fp4"))
    aggregated = [l for l in space if not l.disagg]
    disagg = [l for l in space if l.disagg]
    assert {l.spec for l in space} == {"none", "mtp"}  # DeepSeek-R1 ships an MTP module
    assert {(l.tp, l.ep, l.dp_attn) for l in aggregated} >= {(8, 1, False), (8, 8, False), (8, 8, True)}
    assert max(l.tp for l in aggregated) == 8
    assert {l.prefill_tp for l in disagg} == {4}  # the smallest worker that holds DeepSeek-R1 at FP4 on 186 GB
    assert max(l.tp for l in disagg) == 64 and all(l.gpus <= RACK_SCALE_GPUS for l in disagg)
    assert all(l.dp_attn for l in disagg if l.tp > 8)


def test_default_space_of_a_dense_model_has_no_mtp_and_no_disaggregation():
    space = default_space(benchmark_config("platform=h100", "model=llama3_70b", "precision=fp8"))
    assert space == [Layout(tp=1), Layout(tp=2), Layout(tp=4), Layout(tp=8)]
    only_disagg = default_space(benchmark_config("platform=h100", "model=llama3_70b", "precision=fp8"), disagg="1")
    assert only_disagg == []


def test_benchmark_space_lists_its_layouts_and_concurrencies():
    layouts = read_space(SPACES, "h200", "deepseek_r1", "fp8", 1024, 1024, moe=True)
    single = [l for l in layouts if not l.disagg]
    assert Layout(tp=8, ep=1, spec="none", concurrencies=(4, 8, 16, 32, 64)) in single  # sglang: no ep given
    assert any(l.tp == 8 and l.ep == 8 and l.dp_attn and l.concurrencies == (128, 256) for l in single)
    wide = [l for l in layouts if l.disagg and l.workers == 11]
    assert wide and all(l.prefill_dp_attn and not l.dp_attn and l.gpus == 96 for l in wide)
    assert len({l.key() for l in layouts}) == len(layouts)  # rows of one layout are merged


def test_a_space_file_without_the_curve_or_with_the_wrong_columns_is_refused(tmp_path):
    base = benchmark_config("platform=h100", "model=llama3_70b", "precision=fp8")
    with pytest.raises(ConfigError, match="lists no layouts for h100/llama3_70b/fp8 at 1024/1024"):
        space_for(base, SPACES)
    bad = tmp_path / "space.csv"
    bad.write_text("platform,model\nh100,llama3_70b\n")
    with pytest.raises(InputError, match="not a search-space file"):
        space_for(base, bad)
    bad.write_bytes(b"")
    with pytest.raises(InputError, match="is empty"):
        space_for(base, bad)
