"""The engine: event skipping gives the same timings as stepping, and tokens are conserved."""

from __future__ import annotations

import numpy as np
import pytest

from sim.requests import Status
from sim.simulation import Simulation, build, simulate
from tests.conftest import TOY, make_config

# A small KV cache (about 12 full-length requests on a worker that batches up to 32) forces preemptions.
TIGHT = (
    "platform=h100",
    "model=llama3_70b",
    "precision=fp8",
    "worker.tp=8",
    "engine.gpu_memory_utilization=0.1675",
    "engine.max_batch_size=32",
    "engine.max_tokens_per_iteration=512",
    "workload.input_tokens=600",
    "workload.output_tokens=400",
    "workload.num_requests=400",
    "output.figure=false",
)


def run(*overrides):
    sim = Simulation(build(make_config(*overrides)))
    result = sim.run()
    return sim, result


@pytest.mark.parametrize(
    "workload",
    [
        ("workload.load_fraction=null", "workload.rate_rps=9.0"),
        ("workload=closed_loop", "workload.concurrency=40", "workload.num_requests=300", "workload.input_tokens=600", "workload.output_tokens=400"),
    ],
    ids=["poisson", "closed_loop"],
)
def test_event_skipping_matches_stepping(workload):
    """Same per-request timings to floating-point rounding (rtol 1e-9); same counts exactly."""
    step_sim, step = run(*TIGHT, *workload, "engine.event_skipping=false")
    skip_sim, skip = run(*TIGHT, *workload, "engine.event_skipping=true")
    assert step.metrics["preemptions"] > 0, "the test workload must exercise preemption"
    assert step.metrics["requests_completed"] == skip.metrics["requests_completed"] == step_sim.requests.n
    for col in ("worker", "generated_tokens", "preemptions", "recomputed_tokens", "input_tokens", "output_tokens"):
        np.testing.assert_array_equal(step.requests[col], skip.requests[col], err_msg=col)
    for col in ("arrival_s", "first_token_s", "finish_s", "gpu_s"):
        np.testing.assert_allclose(step.requests[col], skip.requests[col], rtol=1e-9, atol=1e-12, err_msg=col)
    assert step.metrics["iterations"] == skip.metrics["iterations"]
    # and skipping is what it claims: far fewer events than iterations
    assert skip.metrics["events"] < 0.5 * step.metrics["events"]


def test_tokens_are_conserved_through_preemption():
    """Tokens processed by the engines = each request's prompt and decode inputs + what it recomputed."""
    sim, result = run(*TIGHT, "workload.load_fraction=null", "workload.rate_rps=9.0")
    req = sim.requests
    assert (req.status == Status.COMPLETED).all() and req.preemptions.sum() > 0
    processed = sum(e.prefill_tokens_done + e.decode_tokens_done for e in sim.engines)
    expected = int((req.input_tokens + req.output_tokens - 1 + req.recomputed_tokens).sum())
    assert processed == expected
    np.testing.assert_array_equal(req.generated, req.output_tokens)
    # and the engines ended empty: every KV token reserved was released
    for e in sim.engines:
        assert e.kv_used == pytest.approx(0.0, abs=1e-6) and e.decode_context == 0


def test_every_request_is_delivered_dropped_or_in_flight():
    sim, result = run(
        *TIGHT, "workload.load_fraction=null", "workload.rate_rps=12.0", "fleet.max_queue_per_worker=5", "max_sim_time_s=25"
    )
    req = sim.requests
    m = result.metrics
    arrived = req.status != Status.NOT_ARRIVED
    assert m["requests_dropped"] > 0 and m["requests_in_flight"] > 0 and m["requests_completed"] > 0
    assert m["requests_completed"] + m["requests_dropped"] + m["requests_in_flight"] == arrived.sum()
    # requests that had not arrived by the end are exactly those scheduled after it
    np.testing.assert_array_equal(~arrived, req.arrival_s > 25)
    # tokens: delivered + dropped + in flight = all tokens that arrived
    tokens = req.input_tokens + req.output_tokens
    by_status = {s: int(tokens[req.status == s].sum()) for s in Status}
    assert m["input_tokens"] + m["output_tokens"] == by_status[Status.COMPLETED]
    assert by_status[Status.COMPLETED] + by_status[Status.DROPPED] + by_status[Status.QUEUED] + by_status[Status.RUNNING] == int(tokens[arrived].sum())
    # no request produced more than it asked for; dropped ones produced nothing
    assert (req.generated <= req.output_tokens).all()
    assert (req.generated[req.status == Status.DROPPED] == 0).all()


def test_first_token_comes_from_the_last_prefill_chunk():
    """A prompt longer than the token budget is prefilled over several iterations."""
    cfg = make_config(
        *TOY, "perf.kind=constant", "perf.constant_iteration_s=0.01", "engine.max_tokens_per_iteration=256",
        "workload.length_dist=fixed", "workload.input_tokens=1000", "workload.output_tokens=3",
        "workload=closed_loop", "workload.concurrency=1", "workload.num_requests=2",
    )
    result = simulate(cfg)
    # 1000 tokens at 256 per iteration: 4 chunks -> first token at 0.04 s; then 2 decode steps
    np.testing.assert_allclose(result.requests["first_token_s"], [0.04, 0.10])
    np.testing.assert_allclose(result.requests["finish_s"], [0.06, 0.12])
    np.testing.assert_allclose(result.requests["tpot_s"], [0.01, 0.01])
