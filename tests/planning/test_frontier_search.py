"""The frontier search: what it prunes, where it stops, what it refuses, and its bound on a layout."""

from __future__ import annotations

import pytest

from sim.base.config import ConfigError
from sim.planning.bounds import DOMINANCE_MARGIN, INTERACTIVITY_MARGIN, optimistic_curve
from sim.planning.frontier import benchmark_config
from sim.planning.layouts import Layout
from sim.planning.runs import Runner
from sim.planning.search import ladder, search

#: Llama-3-70B at FP8 on H100 with short requests: a toy frontier that simulates in about a second.
TOY = ("platform=h100", "model=llama3_70b", "precision=fp8", "workload.input_tokens=128", "workload.output_tokens=256")
LAYOUTS = [
    Layout(tp=1),  # does not fit: removed before simulating
    Layout(tp=2), Layout(tp=4), Layout(tp=8),
    Layout(tp=2, prefill_workers=3, prefill_tp=2),  # three prefill workers idle behind one decode worker
    Layout(tp=8, prefill_workers=2, prefill_tp=8),
]
#: High enough that the single-worker layouts saturate (their throughput per GPU stops growing) below it.
MAX_CONCURRENCY = 1024


@pytest.fixture(scope="module")
def searches():
    base = benchmark_config(*TOY)
    with Runner(1) as runner:
        pruned = search(base, LAYOUTS, runner, max_concurrency=MAX_CONCURRENCY)
        exhaustive = search(base, LAYOUTS, runner, max_concurrency=MAX_CONCURRENCY, prune=False)
    return base, pruned, exhaustive


def test_pruning_never_removes_a_layout_of_the_frontier(searches):
    _, pruned, exhaustive = searches
    dominated = [k for k, why in pruned.stopped.items() if why.startswith("dominated")]
    assert dominated, "the toy space must exercise pruning"
    full, full_points = exhaustive.frontier()
    assert not {full_points[i].layout.key() for i in full.index} & set(dominated)
    kept, _ = pruned.frontier()
    assert kept.xs == full.xs and kept.ys == full.ys
    assert pruned.runs < exhaustive.runs


def test_every_simulated_point_lies_under_its_layouts_optimistic_curve(searches):
    """The bound the pruning relies on: within its margins, no point beats its layout's best possible curve."""
    base, _, exhaustive = searches
    for layout in {p.layout.key(): p.layout for p in exhaustive.points}.values():
        boxes = optimistic_curve(base, layout, MAX_CONCURRENCY).boxes()
        for p in exhaustive.ok_points:
            if p.layout.key() == layout.key():
                assert any(
                    x * (1 + INTERACTIVITY_MARGIN) >= p.interactivity and y * (1 + DOMINANCE_MARGIN) >= p.tput_per_gpu
                    for x, y in boxes
                ), (layout.name, p.concurrency, p.interactivity, p.tput_per_gpu)


def test_a_layout_stops_climbing_once_it_saturates_and_memory_refusals_are_kept(searches):
    _, pruned, _ = searches
    assert any(why.startswith("saturated") for why in pruned.stopped.values())
    (removed,) = pruned.removed
    assert removed.layout == Layout(tp=1) and "does not fit" in removed.reason
    for layout in LAYOUTS[1:4]:  # throughput per GPU rises with concurrency until the layout saturates
        tputs = [p.tput_per_gpu for p in pruned.points if p.layout == layout]
        assert tputs[-2] == max(tputs) or tputs[-1] == max(tputs)


def test_an_infeasible_or_empty_space_names_every_layout_and_its_constraint():
    base = benchmark_config("platform=h100", "model=deepseek_r1", "precision=bf16")
    with pytest.raises(ConfigError) as err:
        search(base, [Layout(tp=2, ep=2), Layout(tp=8, ep=8, dp_attn=True), Layout(tp=3)], Runner(1))
    message = str(err.value)
    assert "no layout of the search space can serve deepseek_r1 at bf16 on h100" in message
    assert message.count("does not fit") == 2 and "tp3: " in message and "attention heads" in message
    with pytest.raises(ConfigError, match="the search space is empty"):
        search(base, [], Runner(1))


def test_ladder_rises_by_about_root_two():
    assert ladder(64) == (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
