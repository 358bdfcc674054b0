"""The frontier as a curve: Pareto frontier, monotone interpolation and ratios against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from sim.planning.pareto import Frontier, crossing, hermite, ratio_at, steffen_slopes, upper_frontier


def test_upper_frontier_keeps_exactly_the_points_nobody_beats_on_both():
    #     0           1            2           3           4           5           6: a copy of 1
    points = [(0.5, 5.0), (1.0, 10.0), (2.0, 8.0), (2.0, 9.0), (3.0, 9.0), (4.0, 1.0), (1.0, 10.0)]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    assert upper_frontier(xs, ys) == [1, 4, 5]  # 0, 2 and 3 are beaten; the copy of 1 is dropped
    assert upper_frontier([1.0, float("nan")], [1.0, 5.0]) == [0]
    assert upper_frontier([], []) == []


def test_steffen_interpolation_matches_a_hand_computed_spline():
    xs, ys = [0.0, 1.0, 2.0], [4.0, 2.0, 1.0]
    # secants -2, -1; interior slope 2·sign·min(2, 1, 0.5·|(-2 - 1)/2|) = -1.5; ends (3s - m)/2: -2.25, -0.75
    assert steffen_slopes(xs, ys) == pytest.approx([-2.25, -1.5, -0.75])
    # at x = 0.5: h00·4 + h10·(-2.25) + h01·2 + h11·(-1.5) with h00 = h01 = 1/2, h10 = 1/8, h11 = -1/8
    assert hermite(xs, ys, steffen_slopes(xs, ys), 0.5) == pytest.approx(2.90625)
    assert hermite(xs, ys, steffen_slopes(xs, ys), 2.0) == 1.0


def test_interpolation_is_exact_on_lines_and_monotone_between_knots():
    xs = [1.0, 2.0, 4.0, 7.0]
    line = [10.0 - 1.5 * x for x in xs]
    assert [hermite(xs, line, steffen_slopes(xs, line), x) for x in (1.5, 3.0, 6.0)] == pytest.approx([7.75, 5.5, 1.0])
    ys = [100.0, 90.0, 20.0, 19.0]  # a sharp knee: a cubic through it without Steffen's limits overshoots
    slopes = steffen_slopes(xs, ys)
    dense = np.linspace(1, 7, 601)
    values = np.array([hermite(xs, ys, slopes, x) for x in dense])
    assert np.all(np.diff(values) <= 1e-12)
    assert values.max() <= 100 and values.min() >= 19


def test_frontier_reads_throughput_at_an_interactivity_without_extrapolating_upwards():
    f = Frontier.of([10.0, 20.0, 40.0, 15.0], [900.0, 600.0, 100.0, 500.0])  # (15, 500) is beaten by (20, 600)
    assert f.index == (0, 1, 2) and f.max_interactivity == 40.0
    assert f.tput_at(20.0) == 600.0
    assert f.tput_at(5.0) == 900.0  # slower than every point: the slowest point serves it
    assert f.tput_at(41.0) is None  # faster than every point: unreachable
    assert 100.0 < f.tput_at(30.0) < 600.0
    assert f.serving_point(12.0) == 1 and f.serving_point(40.0) == 2 and f.serving_point(40.5) is None


def test_ratio_of_two_frontiers_and_where_it_crosses_a_level():
    a = Frontier.of([10.0, 50.0], [1000.0, 200.0])
    b = Frontier.of([10.0, 30.0], [100.0, 50.0])
    r = ratio_at(a, b, [10.0, 20.0, 40.0])
    assert r[0] == pytest.approx(10.0) and r[2] is None
    assert r[1] == pytest.approx(800.0 / 75.0)  # two-point frontiers are straight lines
    assert crossing([1.0, 2.0, 3.0], [5.0, 15.0, None], 10.0) == [1.5]
