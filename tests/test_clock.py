"""The fleet's clock: scheduled calls interleave with SimPy events exactly as timeouts would."""

import pytest
import simpy

from sim.base.clock import FleetEnvironment


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


def test_a_sequence_of_calls_merges_with_the_calendar_and_comes_first_at_equal_times():
    env = FleetEnvironment()
    log = []
    env.call_in(1.0, log.append, "calendar at 1")
    env.call_in(2.5, log.append, "calendar at 2.5")
    env.timeout(2.0).callbacks.append(lambda event: log.append("timeout at 2"))
    # each call of the sequence schedules a calendar call at its own instant: it runs after the sequence's
    env.call_at_each([1.0, 2.0, 2.0, 3.0], lambda i: (log.append(f"arrival {i}"), env.call_in(0.0, log.append, f"after {i}")))
    assert env.peek() == 1.0
    env.run()
    assert log == [
        "arrival 0", "calendar at 1", "after 0",
        "arrival 1", "arrival 2", "timeout at 2", "after 1", "after 2",  # the timeout was scheduled first
        "calendar at 2.5", "arrival 3", "after 3",
    ]
    assert env.now == 3.0


def test_a_sequence_of_calls_stops_with_the_run_and_resumes():
    env = FleetEnvironment()
    log = []
    env.call_at_each([1.0, 2.0, 3.0], log.append)
    env.run(until=2.5)
    assert log == [0, 1] and env.now == 2.5
    env.run()
    assert log == [0, 1, 2]
    with pytest.raises(simpy.core.EmptySchedule):
        env.step()


def test_a_sequence_of_calls_must_be_in_time_order():
    env = FleetEnvironment()
    with pytest.raises(ValueError, match="non-decreasing"):
        env.call_at_each([1.0, 0.5], print)
    env.call_at_each([1.0], print)
    with pytest.raises(RuntimeError, match="not finished"):
        env.call_at_each([2.0], print)


def test_a_call_can_start_a_new_sequence_which_runs_at_its_own_times():
    env = FleetEnvironment()
    log = []

    def first(i):
        log.append(("first", i, env.now))
        if i == 1:  # the last call of the first sequence starts the second
            env.call_at_each([5.0, 6.0], lambda j: log.append(("second", j, env.now)))

    env.call_at_each([1.0, 2.0], first)
    env.call_in(1.0, lambda _: env.call_at_each([1.5], lambda j: log.append(("third", j, env.now))), None)
    env.call_in(3.0, lambda _: log.append(("call", 0, env.now)), None)
    with pytest.raises(RuntimeError, match="not finished"):  # the first is still running at 1.0
        env.run()
    assert log == [("first", 0, 1.0)]

    env = FleetEnvironment()
    log = []
    env.call_at_each([1.0, 2.0], first)
    env.call_in(3.0, lambda _: log.append(("call", 0, env.now)), None)
    env.call_in(5.5, lambda _: env.call_in(0.0, log.append, ("nested", 0, env.now)), None)
    env.run()
    assert log == [("first", 0, 1.0), ("first", 1, 2.0), ("call", 0, 3.0), ("second", 0, 5.0), ("nested", 0, 5.5), ("second", 1, 6.0)]
