"""The engine: event skipping gives the same timings as stepping, and tokens are conserved."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.serving.requests import Status
from sim.run.simulation import Simulation, build, simulate
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


def run(*overrides, perf=None):
    deployment = build(make_config(*overrides))
    if perf is not None:
        pools = tuple(dataclasses.replace(pool, perf=perf) for pool in deployment.pools)
        deployment = dataclasses.replace(deployment, pools=pools)
    sim = Simulation(deployment)
    result = sim.run()
    return sim, result


class CrossingPerf:
    """A decode iteration whose attention turns from memory- to compute-bound as context grows.

    Time = 1 ms + max(0.4 ms + 1 us/context token x 0.2, 2 us x 0.05 per request + 0.5 us/context token),
    so a decode run's two lines cross and DecodeRun has two pieces; prefill costs 20 us per token.
    """

    def iteration_time_s(self, prefill_tokens, prefill_pairs, prefill_kv_tokens, decode_tokens, decode_context_tokens, prefill_chunks=1):
        decode = max(4e-4 + 2e-7 * decode_context_tokens, 1e-7 * decode_tokens + 5e-7 * decode_context_tokens)
        return 1e-3 + 2e-5 * prefill_tokens + (decode if decode_tokens else 0.0)

    def decode_run(self, batch, context_tokens, growth_tokens):
        from sim.serving.perf import DecodeRun

        g = growth_tokens
        return DecodeRun(1e-3, 4e-4 + 2e-7 * context_tokens, 2e-7 * g, 1e-7 * batch + 5e-7 * context_tokens, 5e-7 * g)


# Four identical workers timed by a constant model: events of different workers tie exactly.
TIES = (
    "platform=h100", "model=llama3_70b", "precision=fp8", "worker.tp=8", "fleet.racks=4",
    "perf.kind=constant", "perf.constant_iteration_s=0.25", "engine.max_batch_size=8",
    "engine.max_tokens_per_iteration=512", "workload=closed_loop", "workload.concurrency=48",
    "workload.num_requests=200", "workload.input_tokens=300", "workload.output_tokens=40", "output.figure=false",
)
CASES = {
    "poisson_preempting": ((*TIGHT, "workload.load_fraction=null", "workload.rate_rps=9.0"), None),
    "closed_loop_preempting": (
        (*TIGHT, "workload=closed_loop", "workload.concurrency=40", "workload.num_requests=300",
         "workload.input_tokens=600", "workload.output_tokens=400"),
        None,
    ),
    "cut_off_mid_run": ((*TIGHT, "workload.load_fraction=null", "workload.rate_rps=9.0", "max_sim_time_s=20"), None),
    # the clock stops inside the first prefill iteration (10 s long), which skipping would merge with its decode run
    "cut_off_mid_prefill": (
        (*TIGHT, "perf.kind=constant", "perf.constant_iteration_s=10", "workload=closed_loop", "workload.concurrency=2",
         "workload.num_requests=4", "workload.input_tokens=100", "workload.output_tokens=50", "max_sim_time_s=5"),
        None,
    ),
    "ties_across_workers": (TIES, None),
    "two_piece_decode_runs": ((*TIGHT, "workload.load_fraction=null", "workload.rate_rps=20.0", "fleet.racks=2"), CrossingPerf()),
    # speculative decoding: a random number of decode iterations per request, fractional context growth
    "mtp_preempting": (
        (*TIGHT, "model=deepseek_r1", "platform=b200", "engine.gpu_memory_utilization=0.583", "worker.dp_attn=true",
         "engine.speculative.method=mtp", "engine.speculative.acceptance_rate=0.6", "workload=closed_loop",
         "workload.concurrency=48", "workload.num_requests=300", "workload.input_tokens=3000", "workload.output_tokens=1000"),
        None,
    ),
    # disaggregated: prefill workers hand requests over, decode workers admit them with their KV cache
    "disaggregated_mtp": (
        ("platform=b200", "model=deepseek_r1", "precision=fp4", "fleet.workers=2", "fleet.prefill_workers=1",
         "prefill_worker.tp=4", "prefill_worker.dp_attn=true", "worker.tp=8", "engine.speculative.method=mtp",
         "workload.load_fraction=null", "workload.rate_rps=30", "workload.num_requests=400", "output.figure=false"),
        None,
    ),
    # workers sharing oversubscribed leaf uplinks: each one's rate changes whenever another starts or stops
    "contended_spine": (
        ("platform=b200", "model=deepseek_r1", "precision=fp4", "fleet.racks=32", "fleet.workers=4", "worker.tp=32",
         "worker.dp_attn=true", "fleet.placement=spread", "platform.topology.scaleout.gpus_per_leaf=64",
         "platform.topology.scaleout.oversubscription=4", "workload.load_fraction=null", "workload.rate_rps=12",
         "workload.num_requests=300", "workload.output_tokens=300", "output.figure=false"),
        None,
    ),
    # KV caches arriving on the NICs a decode worker's all-to-all uses: every transfer re-plans it
    "kv_sharing_nics": (
        ("platform=b200", "model=deepseek_r1", "precision=fp4", "fleet.workers=2", "worker.tp=16", "worker.dp_attn=true",
         "fleet.prefill_workers=2", "prefill_worker.tp=8", "prefill_worker.dp_attn=true", "engine.speculative.method=mtp",
         "workload.load_fraction=null", "workload.rate_rps=40", "workload.num_requests=300", "output.figure=false"),
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_event_skipping_matches_stepping(case):
    """Same per-request timings to floating-point rounding (rtol 1e-9); same counts exactly."""
    overrides, perf = CASES[case]
    step_sim, step = run(*overrides, "engine.event_skipping=false", perf=perf)
    skip_sim, skip = run(*overrides, "engine.event_skipping=true", perf=perf)
    for col in ("status", "worker", "generated_tokens", "preemptions", "recomputed_tokens"):
        np.testing.assert_array_equal(step.requests[col], skip.requests[col], err_msg=col)
    for col in ("arrival_s", "first_token_s", "finish_s", "gpu_s"):
        np.testing.assert_allclose(step.requests[col], skip.requests[col], rtol=1e-9, atol=1e-12, err_msg=col)
    for key in ("iterations", "requests_completed", "preemptions", "sim_time_s", "gpu_utilization"):
        assert step.metrics[key] == pytest.approx(skip.metrics[key], rel=1e-9), key
    # the cases exercise what they are named after
    if "preempting" in case:
        assert step.metrics["preemptions"] > 0
    if "mtp" in case:
        assert step.metrics["tokens_per_decode_iteration"] > 1.5
    if case.startswith("cut_off"):
        assert step.metrics["requests_in_flight"] > 0
    if case in ("contended_spine", "kv_sharing_nics"):  # rates changed under running workers
        assert skip_sim.fabric.updates > 4 and any(links is not None for links in skip_sim.links)
    if perf is not None:
        assert any(perf.decode_run(b, c, b).cross is not None for b, c in ((32, 1000), (8, 100)))
    if case == "cut_off_mid_prefill":
        assert skip.metrics["gpu_utilization"] == 0 and np.isnan(skip.requests["first_token_s"]).all()
    else:  # skipping is what it claims: far fewer events than iterations on the workers that decode (a prefill
        # worker's iterations, arrivals and KV transfers are events either way)
        decoding = step.workers["decode_steps"] > 0
        assert skip.workers["events"][decoding].sum() < 0.5 * step.workers["events"][decoding].sum()


def test_tokens_are_conserved_through_preemption():
    """Tokens processed by the engines = each request's prompt and decode inputs + what it recomputed."""
    sim, result = run(*TIGHT, "workload.load_fraction=null", "workload.rate_rps=9.0")
    req = sim.requests
    assert (req.status == Status.COMPLETED).all() and req.preemptions.sum() > 0
    processed = sum(e.prefill_tokens_done + e.decode_steps_done for e in sim.engines)
    expected = int((req.input_tokens + req.output_tokens - 1 + req.recomputed_tokens).sum())
    assert processed == expected
    np.testing.assert_array_equal(req.generated, req.output_tokens)
    # and the engines ended empty: every KV token reserved was released
    for e in sim.engines:
        assert e.kv_used == pytest.approx(0.0, abs=1e-6) and e.decode_context == 0


def test_every_request_is_delivered_dropped_or_in_flight():
    """Counted independently: completions in the table, drops by the router, in flight by the engines."""
    sim, result = run(
        *TIGHT, "workload.load_fraction=null", "workload.rate_rps=12.0", "fleet.max_queue_per_worker=5", "max_sim_time_s=25"
    )
    req = sim.requests
    completed = int((req.status == Status.COMPLETED).sum())
    in_flight = sum(len(e.queue) + len(e.admitted) for e in sim.engines)
    arrived = int((req.arrival_s <= 25).sum())
    assert sim.router.dropped > 0 and in_flight > 0 and completed > 0
    assert completed + sim.router.dropped + in_flight == arrived
    assert result.metrics["requests_in_flight"] == in_flight and result.metrics["requests_dropped"] == sim.router.dropped
    # every token the engines sampled is in some request's count, and none beyond what it asked for
    sampled = sum(e.decode_steps_done + e.prefills_done for e in sim.engines)
    assert int(req.generated.sum()) == sampled
    assert (req.generated <= req.output_tokens).all()
    assert (req.generated[req.status == Status.DROPPED] == 0).all()
    np.testing.assert_array_equal(req.generated[req.status == Status.COMPLETED], req.output_tokens[req.status == Status.COMPLETED])


def test_the_run_ends_when_the_last_request_finishes():
    """A time cap that is never reached does not stretch the simulated time."""
    _, capped = run(*TIGHT, "workload.load_fraction=null", "workload.rate_rps=2.0", "max_sim_time_s=36000")
    _, free = run(*TIGHT, "workload.load_fraction=null", "workload.rate_rps=2.0")
    assert capped.metrics["sim_time_s"] == free.metrics["sim_time_s"] == np.nanmax(free.requests["finish_s"])


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


class RecordingPerf:
    """The deployment's own performance model, recording the query tokens of every iteration."""

    def __init__(self, perf, query_tokens):
        self.perf, self.query_tokens, self.tokens = perf, query_tokens, []

    def iteration_time_s(self, prefill_tokens, prefill_pairs, prefill_kv_tokens, decode_tokens, decode_context_tokens, prefill_chunks=1):
        self.tokens.append(prefill_tokens + decode_tokens * self.query_tokens)
        return self.perf.iteration_time_s(prefill_tokens, prefill_pairs, prefill_kv_tokens, decode_tokens, decode_context_tokens, prefill_chunks)

    def decode_run(self, batch, context_tokens, growth_tokens):
        return self.perf.decode_run(batch, context_tokens, growth_tokens)


def test_the_token_budget_counts_every_query_token_of_speculative_decoding():
    """With MTP a decoding request puts 1 + d tokens through the model each iteration: prefill chunks get
    what the decoding batch leaves of the budget, never more (they used to get budget - batch)."""
    overrides = (
        *TOY, "model=deepseek_r1", "platform=b200", "precision=fp4", "engine.speculative.method=mtp",
        "engine.speculative.draft_tokens=3", "engine.max_batch_size=64", "engine.max_tokens_per_iteration=512",
        "workload=closed_loop", "workload.concurrency=64", "workload.num_requests=200", "workload.input_tokens=400",
        "workload.output_tokens=100", "engine.event_skipping=false",
    )
    deployment = build(make_config(*overrides))
    recorder = RecordingPerf(deployment.perf, deployment.spec.query_tokens)
    sim = Simulation(dataclasses.replace(deployment, pools=(dataclasses.replace(deployment.pools[0], perf=recorder),)))
    sim.run()
    assert deployment.spec.query_tokens == 4
    assert max(recorder.tokens) <= 512
    assert max(recorder.tokens) > 400  # the budget is used, not left idle
