"""Link sharing against theory: processor sharing on one link, max-min fairness on multi-link paths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.base.clock import FleetEnvironment
from sim.base.config import compose_config
from sim.network.fabric import Fabric
from sim.network.links import Path
from sim.network.sharing import max_min_rates
from sim.spec.platform import Platform

NIC = ("nic_tx", 0)


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_n_equal_flows_on_one_link_each_get_one_nth(n):
    rates = max_min_rates({"link": 12.0}, [({"link": 1.0}, math.inf)] * n)
    assert rates == pytest.approx([12.0 / n] * n)


def test_max_min_on_a_two_link_path_matches_the_hand_computed_case():
    """Links A (1) and B (2); f1 on A, f2 on A and B, f3 on B. Raising all: A fills at 0.5 (f1, f2 stop
    there), B then has 2 - 0.5 = 1.5 left for f3 alone. A fourth flow on B capped at 0.2 stops at its cap,
    leaving f3 1.3."""
    flows = [({"A": 1.0}, math.inf), ({"A": 1.0, "B": 1.0}, math.inf), ({"B": 1.0}, math.inf)]
    assert max_min_rates({"A": 1.0, "B": 2.0}, flows) == pytest.approx([0.5, 0.5, 1.5])
    assert max_min_rates({"A": 1.0, "B": 2.0}, flows + [({"B": 1.0}, 0.2)]) == pytest.approx([0.5, 0.5, 1.3, 0.2])
    # a flow that puts twice its rate on a link (two of its GPUs below one leaf) takes two shares of it
    assert max_min_rates({"L": 3.0}, [({"L": 2.0}, math.inf), ({"L": 1.0}, math.inf)]) == pytest.approx([1.0, 1.0])


def test_every_flow_is_at_its_cap_or_has_a_full_link_where_no_flow_gets_more():
    """The defining property of max-min fairness, on random flows over random links (with caps and
    coefficients): no link is over its capacity, and each flow below its cap crosses a full link on which
    its rate is the largest."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        links = {link: float(rng.uniform(1, 10)) for link in range(int(rng.integers(1, 6)))}
        flows = []
        for _ in range(int(rng.integers(1, 7))):
            path = rng.choice(list(links), size=int(rng.integers(1, len(links) + 1)), replace=False)
            flows.append(({int(link): float(rng.choice([0.5, 1.0, 2.0])) for link in path}, float(rng.choice([math.inf, rng.uniform(0.5, 5)]))))
        rates = max_min_rates(links, flows)
        used = {link: sum(r * f[0].get(link, 0.0) for r, f in zip(rates, flows)) for link in links}
        assert all(used[link] <= cap * (1 + 1e-9) for link, cap in links.items())
        for rate, (path, cap) in zip(rates, flows):
            bottleneck = any(
                used[link] >= links[link] * (1 - 1e-9) and all(r <= rate * (1 + 1e-9) for r, f in zip(rates, flows) if link in f[0])
                for link in path
            )
            assert rate == pytest.approx(cap) or bottleneck


def _fabric():
    env = FleetEnvironment()
    topology = Platform.from_config(compose_config("platform=b200").platform).topology
    return env, Fabric(env, topology), topology.nic_bytes_per_s


def test_transfers_sharing_one_link_finish_when_processor_sharing_says():
    """Three transfers of 1, 2 and 3 units start together on one NIC of bandwidth C: under processor
    sharing the first ends at 3/C, the second at 3/C + 2·1/C, the third at 5/C + 1/C. A fourth, started at
    1/C, shares from then on."""
    env, fabric, c = _fabric()
    done = {}
    path = Path({NIC: 1.0}, 0.0, False, math.inf)
    for name, size in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
        fabric.start_transfer(path, size * c, 1.0, lambda name=name: done.setdefault(name, env.now))
    env.run()
    assert [done[k] * 1 for k in "abc"] == pytest.approx([3.0, 5.0, 6.0], rel=1e-12)
    # staggered: x (2 units) alone for 1 s, then y (1 unit) joins: each at C/2 -> y ends at 1 + 2 = 3, x at 3 + 0 = 3
    env, fabric, c = _fabric()
    done = {}
    fabric.start_transfer(path, 2.0 * c, 1.0, lambda: done.setdefault("x", env.now))
    env.call_at(1.0, lambda _: fabric.start_transfer(path, 1.0 * c, 1.0, lambda: done.setdefault("y", env.now)))
    env.run()
    assert done["x"] == pytest.approx(3.0) and done["y"] == pytest.approx(3.0)
    assert fabric.link_bytes[NIC] == pytest.approx(3.0 * c)


def test_a_transfer_ends_after_its_bytes_at_the_achieved_rate_and_its_latency():
    env, fabric, c = _fabric()
    done = []
    fabric.start_transfer(Path({NIC: 1.0}, 2e-6, False, math.inf), c, 0.5, lambda: done.append(env.now), extra_latency_s=1e-6)
    env.run()
    assert done == [pytest.approx(1.0 / 0.5 + 3e-6)]


def _at_most(calls: int, method):
    count = [0]

    def counted(*args):
        count[0] += 1
        assert count[0] <= calls, "the fabric keeps rescheduling a finish at the same instant"
        return method(*args)

    return counted


def test_transfers_late_in_a_long_run_finish():
    """At 1e5 simulated seconds a step of the clock is 1.5e-11 s: a transfer whose rounding leaves less than a
    step to go finishes instead of being rescheduled at the same instant forever (a review found the hang)."""
    topology = Platform.from_config(compose_config("platform=b200").platform).topology
    for start_s in (2e4 + 1.85, 1e5, 3e5):
        for k in range(50):
            env = FleetEnvironment(start_s + 0.37 * k)
            fabric = Fabric(env, topology)
            fabric._on_finish = _at_most(100, fabric._on_finish)  # a hang fails the test instead of the suite
            path = Path({NIC: 1.0}, 0.0, False, math.inf)
            done = []
            size = 70_000 * (50 + 13 * k)
            fabric.start_transfer(path, size, 0.8, lambda: done.append(env.now))
            env.call_in(1e-5 * (k % 7 + 1), lambda _: fabric.start_transfer(path, 0.7 * size, 0.8, lambda: done.append(env.now)))
            env.run()
            assert len(done) == 2 and fabric.timer_events <= 3


def test_worker_flows_share_while_active_and_hear_of_every_change():
    env, fabric, c = _fabric()
    heard = {"w1": [], "w2": []}
    w1 = fabric.worker_flow({NIC: 1.0}, math.inf, heard["w1"].append)
    w2 = fabric.worker_flow({NIC: 1.0}, math.inf, heard["w2"].append)
    fabric.set_active([w1], True)
    fabric.set_active([w2], True)
    fabric.set_active([w1], False)
    assert heard["w1"] == [c, c / 2] and heard["w2"] == [c / 2, c]
