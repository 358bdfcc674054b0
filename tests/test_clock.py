"""The fleet's clock: scheduled calls interleave with SimPy events exactly as timeouts would."""

import pytest
import simpy

from sim.clock import FleetEnvironment


def test_calls_and_events_run_in_time_then_scheduling_order():
    env = FleetEnvironment()
    log = []

    def process(env):
        yield env.timeout(1.0)
        log.append(("process", env.now))
        yield env.timeout(0.5)
        log.append(("process", env.now))

    env.call_in(1.0, lambda tag: log.append((tag, env.now)), "call a")  # scheduled before the process's timeout
    env.process(process(env))
    env.call_in(1.5, lambda tag: log.append((tag, env.now)), "call b")
    env.timeout(1.5).callbacks.append(lambda event: log.append(("timeout", env.now)))
    env.call_in(0.0, lambda tag: env.call_in(2.0, lambda t: log.append((t, env.now)), "call c"), None)
    env.run()
    assert log == [("call a", 1.0), ("process", 1.0), ("call b", 1.5), ("timeout", 1.5), ("process", 1.5), ("call c", 2.0)]


def test_run_until_a_time_stops_before_later_calls():
    env = FleetEnvironment()
    log = []
    for t in (1.0, 2.0, 3.0):
        env.call_in(t, log.append, t)
    env.run(until=2.5)
    assert log == [1.0, 2.0] and env.now == 2.5
    env.run()
    assert log == [1.0, 2.0, 3.0] and env.now == 3.0


def test_run_until_an_event_triggered_by_a_call():
    env = FleetEnvironment()
    done = env.event()
    env.call_in(4.0, lambda _: done.succeed("ok"))
    env.call_in(5.0, lambda _: pytest.fail("ran past the until event"))
    assert env.run(until=done) == "ok" and env.now == 4.0


def test_an_empty_schedule_ends_the_run():
    env = FleetEnvironment()
    env.call_in(1.0, lambda _: None)
    env.run()
    assert env.now == 1.0
    with pytest.raises(simpy.core.EmptySchedule):
        env.step()
