"""Attribution of a gap: single paths, every order, and the Shapley attribution."""

from __future__ import annotations

import itertools

import pytest

from sim.planning.attribution import order_range, path_attribution, shapley, values_table


def cost(switched: frozenset[int]) -> float:
    """A toy cost per token: price over throughput, with an interaction between chip speed and precision."""
    price = 2.65 if 0 in switched else 1.41
    chip = 4.0 if 1 in switched else 1.0
    precision = 2.0 if 2 in switched else 1.0
    bonus = 1.5 if {1, 2} <= switched else 1.0  # FP4 pays off more on the chip with FP4 tensor cores
    return price / (chip * precision * bonus)


def test_shapley_adds_up_to_the_gap_and_does_not_depend_on_the_listing():
    values = values_table(3, cost)
    phi = shapley(3, values)
    assert sum(phi) == pytest.approx(cost(frozenset({0, 1, 2})) - cost(frozenset()))
    for perm in itertools.permutations(range(3)):  # list the factors in another order: same shares
        relabelled = values_table(3, lambda s: cost(frozenset(perm[i] for i in s)))
        phi_relabelled = shapley(3, relabelled)
        assert [phi_relabelled[perm.index(j)] for j in range(3)] == pytest.approx(phi)


def test_single_paths_add_up_but_their_shares_depend_on_the_order():
    values = values_table(3, cost)
    gap = values[frozenset({0, 1, 2})] - values[frozenset()]
    paths = [path_attribution(order, values) for order in itertools.permutations(range(3))]
    assert all(sum(p) == pytest.approx(gap) for p in paths)
    assert len({round(p[0], 9) for p in paths}) > 1  # the price's share moves with the order
    lo_hi = order_range(3, values)
    phi = shapley(3, values)
    assert all(lo <= f <= hi for f, (lo, hi) in zip(phi, lo_hi))
    assert shapley(3, values) == pytest.approx([sum(p[i] for p in paths) / len(paths) for i in range(3)])


def test_two_factors_shapley_is_the_mean_of_the_two_paths_and_equals_a_path_without_interaction():
    values = values_table(2, lambda s: cost(frozenset({i + 1 for i in s})))  # chip and precision interact
    a, b = path_attribution((0, 1), values), path_attribution((1, 0), values)
    assert shapley(2, values) == pytest.approx([(x + y) / 2 for x, y in zip(a, b)])
    additive = values_table(2, lambda s: 3.0 - (1.0 if 0 in s else 0.0) - (0.5 if 1 in s else 0.0))
    assert shapley(2, additive) == pytest.approx([-1.0, -0.5])
    assert path_attribution((0, 1), additive) == pytest.approx([-1.0, -0.5]) == path_attribution((1, 0), additive)


def test_a_factor_that_changes_nothing_gets_nothing():
    values = values_table(3, lambda s: cost(frozenset(i for i in s if i != 2)))
    assert shapley(3, values)[2] == pytest.approx(0.0)
