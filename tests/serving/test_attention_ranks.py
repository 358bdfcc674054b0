"""Prefill as serving engines run it: with attention data parallelism every rank schedules its own batch and
token budget, and an iteration in progress finishes at the link rates it gets, not those of its first instant."""

from __future__ import annotations

import dataclasses

import pytest

from sim.run.simulation import Simulation, build
from sim.serving.capacity import attention_ranks
from sim.base.config import WorkerConfig
from tests.conftest import make_config

# A GB200 NVL72 rack, disaggregated: two 4-GPU dp_attn prefill workers and an 8-GPU dp_attn decode worker in one
# NVLink domain, so the prefill workers' KV transfers leave through the ports their all-to-alls use.
RACK = (
    "platform=gb200_nvl72", "model=deepseek_r1", "precision=fp4", "fleet.workers=1", "worker.tp=8", "worker.dp_attn=true",
    "fleet.prefill_workers=2", "prefill_worker.tp=4", "prefill_worker.dp_attn=true", "engine.max_batch_size=64",
    "workload=benchmark", "workload.concurrency=512", "workload.num_requests=1536", "workload.warmup_requests=512",
    "output.figure=false", "output.requests_csv=false", "output.print_summary=false",
)


def test_the_limits_are_per_attention_rank():
    assert attention_ranks(WorkerConfig(tp=8, dp_attn=True)) == 8 and attention_ranks(WorkerConfig(tp=8)) == 1
    sim = Simulation(build(make_config(*RACK)))
    prefill, decode = sim.engines[0], sim.engines[-1]
    assert (prefill.max_batch, prefill.max_tokens, prefill.max_chunk) == (4 * 64, 4 * 8192, 8192)
    assert (decode.max_batch, decode.max_tokens) == (8 * 64, 8 * 8192)


class Recording:
    """The roofline's iteration times, recording each iteration's prefill tokens and prompt chunks."""

    def __init__(self, perf):
        self.perf, self.iterations = perf, []

    def iteration_time_s(self, prefill_tokens, prefill_pairs, prefill_kv_tokens, decode_tokens, decode_context_tokens, prefill_chunks=1):
        self.iterations.append((prefill_tokens, prefill_chunks))
        return self.perf.iteration_time_s(prefill_tokens, prefill_pairs, prefill_kv_tokens, decode_tokens, decode_context_tokens, prefill_chunks)

    def decode_run(self, batch, context_tokens, growth_tokens):
        return self.perf.decode_run(batch, context_tokens, growth_tokens)


def test_a_prefill_worker_fills_every_ranks_budget_and_a_prompt_fits_one_rank():
    deployment = build(make_config(*RACK, "workload.input_tokens=20000", "workload.output_tokens=20", "workload.concurrency=64",
                                   "workload.num_requests=192", "workload.warmup_requests=64"))
    recording = Recording(deployment.pools[0].perf)
    pools = (dataclasses.replace(deployment.pools[0], perf=recording, placed_otherwise={}), deployment.pools[1])
    Simulation(dataclasses.replace(deployment, pools=pools)).run()
    with_prefill = [(tokens, chunks) for tokens, chunks in recording.iterations if tokens]
    assert all(tokens <= 8192 * chunks for tokens, chunks in with_prefill)  # a 20k-token prompt is chunked at one rank's budget
    assert max(tokens for tokens, _ in with_prefill) > 8192  # several ranks' chunks in one iteration
    assert max(tokens for tokens, _ in with_prefill) <= 4 * 8192


def test_kv_transfers_on_a_prefill_workers_ports_slow_its_all_to_all_only_while_they_run():
    """Every prefill iteration begins as the previous one's prompts start their KV transfers on the same NVLink
    ports; held at the rates of that instant, the all-to-all would run at a few percent of its link for the whole
    iteration. Re-timed as the transfers end, its time per token stays near the uncontended model's."""
    sim = Simulation(build(make_config(*RACK)))
    sim.run()
    engine = sim.engines[0]
    alone = build(make_config(*RACK)).pools[0].perf  # a fresh model at the rates a worker has alone
    tokens = 4 * 8192
    per_token_alone = alone.layer_parts(tokens, 1.0).alltoall_link_s / tokens
    per_token_run = engine.part_totals.alltoall_link_s / engine.prefill_tokens_done
    assert per_token_run < 2.5 * per_token_alone  # (held at the rates of each iteration's first instant: about 15 times)
    assert engine.prefill_tokens_done > 0 and engine.part_totals.alltoall_link_s > 0
