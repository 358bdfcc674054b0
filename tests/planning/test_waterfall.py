"""The cost waterfall between two deployments of one model."""

from __future__ import annotations

import numpy as np
import pytest

from sim.base.config import ConfigError
from sim.planning.runs import Runner
from sim.planning.waterfall import decompose, main as waterfall_main, sides

COMMON = ["model=llama3_70b", "workload.input_tokens=128", "workload.output_tokens=128"]
A = "platform=h100 precision=fp8 worker.tp=8"
B = "platform=b200 precision=fp8 worker.tp=2"


@pytest.fixture(scope="module")
def waterfall():
    return decompose(*sides(A, B, COMMON), 30.0, ["price", "chip", "layout"], Runner(1))


def test_shapley_shares_add_up_to_the_gap_and_the_ends_are_a_and_b(waterfall):
    w = waterfall
    d, m = w.additive, w.multiplicative
    assert sum(d.shapley) == pytest.approx(w.gap) and sum(d.path) == pytest.approx(w.gap)
    ratio = w.cost[frozenset({0, 1, 2})] / w.cost[frozenset()]
    assert np.prod(m.shapley) == pytest.approx(ratio) and np.prod(m.path) == pytest.approx(ratio)
    assert w.cost[frozenset()] == pytest.approx(w.a.price / (w.tput[frozenset()] * 3600 / 1e6))
    assert w.cost[frozenset({0, 1, 2})] == pytest.approx(w.b.price / (w.tput[frozenset({0, 1, 2})] * 3600 / 1e6))
    assert all(lo - 1e-12 <= phi <= hi + 1e-12 for phi, (lo, hi) in zip(d.shapley, d.ranges))
    assert all(lo * (1 - 1e-12) <= f <= hi * (1 + 1e-12) for f, (lo, hi) in zip(m.shapley, m.ranges))


def test_the_price_scales_cost_without_changing_throughput(waterfall):
    w = waterfall
    assert w.tput[frozenset({0})] == w.tput[frozenset()]
    assert w.cost[frozenset({0})] / w.cost[frozenset()] == pytest.approx(w.b.price / w.a.price)
    assert w.b.price > w.a.price and w.additive.shapley[0] > 0  # B's GPU-hour costs more: the price step raises the cost
    # the price multiplies every hybrid's cost by the same factor: its multiplier is the price ratio whatever the order
    assert w.multiplicative.shapley[0] == pytest.approx(w.b.price / w.a.price)
    assert w.multiplicative.ranges[0] == pytest.approx((w.b.price / w.a.price,) * 2)


def test_deployments_of_different_models_or_unknown_factors_are_refused(capsys):
    code = waterfall_main([A + " model=llama3_70b", B + " model=deepseek_r1 precision=fp4", "--processes", "1"])
    assert code == 2
    assert "A serves llama3_70b and B serves deepseek_r1" in capsys.readouterr().err
    assert waterfall_main([A, B, "--common", " ".join(COMMON), "--factors", "price,colour", "--processes", "1"]) == 2
    assert "--factors price,colour" in capsys.readouterr().err


def test_an_interactivity_a_hybrid_cannot_reach_is_named(capsys, tmp_path):
    assert waterfall_main([A, B, "--common", " ".join(COMMON), "--factors", "price,chip", "--interactivity", "5000", "--processes", "1",
                           "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "reaches at most" in err and "choose a lower --interactivity than 5000" in err


def test_or_lower_compares_at_the_fastest_interactivity_every_hybrid_reaches(capsys, tmp_path):
    assert waterfall_main([A, B, "--common", " ".join(COMMON), "--factors", "price,chip", "--interactivity", "5000", "--or-lower",
                           "--processes", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "(asked 5000: not every hybrid reaches it)" in out


def test_a_side_speculates_as_its_layout_says():
    """A side whose layout uses MTP keeps it in every hybrid that keeps that side's speculative decoding."""
    from dataclasses import replace

    from sim.planning.waterfall import hybrid

    a, b = sides(A, B, COMMON)
    b = replace(b, layout=replace(b.layout, spec="mtp"))  # the engine config still says none: the layout wins
    cfg, layout, _ = hybrid(a, b, frozenset({"speculative"}))
    assert layout.spec == "mtp" and cfg.engine.speculative.method == "mtp"
    cfg, layout, _ = hybrid(a, b, frozenset({"chip"}))
    assert layout.spec == "none" and cfg.engine.speculative.method == "none"
