"""A performance model of measured numbers: a fixed time per iteration plus a time per processed token.

For tests (with batch size 1 it turns a worker into an M/D/1 server) and for users who measured their
engine. It says nothing of where the time goes (no parts) nor of links.
"""

from __future__ import annotations

from sim.base.config import PerfConfig
from sim.serving.perf import DecodeRun


class ConstantPerf:
    """A fixed time per iteration plus a time per processed token."""

    def __init__(self, cfg: PerfConfig):  # the ranges of both numbers are checked on the schema
        self.iteration_s = cfg.constant_iteration_s
        self.per_token_s = cfg.constant_per_token_s

    def iteration_time_s(self, prefill_tokens, prefill_pairs, prefill_kv_tokens, decode_tokens, decode_context_tokens, prefill_chunks=1):
        return self.iteration_s + self.per_token_s * (prefill_tokens + decode_tokens)

    def decode_run(self, batch: int, context_tokens: float, growth_tokens: float) -> DecodeRun:
        return DecodeRun(self.iteration_s + self.per_token_s * batch, 0.0, 0.0, 0.0, 0.0)
