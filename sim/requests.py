"""The request table: every request of a run as one row of numpy columns.

Requests are not Python objects. A request is an integer id indexing these columns, which the
workload fills at the start (arrival times, lengths) and the engines update as the request moves
through queue, prefill and decode. At the end the columns are the per-request records, written as
a table in one call.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Status(IntEnum):
    """Where a request is at the end of a run."""

    NOT_ARRIVED = 0
    QUEUED = 1
    RUNNING = 2
    COMPLETED = 3
    DROPPED = 4


class RequestTable:
    """Columns of per-request state and records, indexed by request id."""

    def __init__(self, input_tokens: np.ndarray, output_tokens: np.ndarray, arrival_s: np.ndarray | None = None):
        n = len(input_tokens)
        self.n = n
        self.input_tokens = np.asarray(input_tokens, dtype=np.int64)
        self.output_tokens = np.asarray(output_tokens, dtype=np.int64)
        self.input_list: list[int] = self.input_tokens.tolist()  # read-only copies for scalar access
        self.output_list: list[int] = self.output_tokens.tolist()
        self.arrival_s = np.full(n, np.nan) if arrival_s is None else np.asarray(arrival_s, dtype=float).copy()
        self.worker = np.full(n, -1, dtype=np.int64)
        self.first_token_s = np.full(n, np.nan)
        self.finish_s = np.full(n, np.nan)
        self.generated = np.zeros(n, dtype=np.int64)  # output tokens produced so far
        self.gpu_s = np.zeros(n)  # GPU-seconds of the iterations it took part in, its token share
        self.preemptions = np.zeros(n, dtype=np.int64)
        self.recomputed_tokens = np.zeros(n, dtype=np.int64)  # tokens processed again after preemption
        self.status = np.zeros(n, dtype=np.int8)

    def columns(self) -> dict[str, np.ndarray]:
        """The per-request records, one array per column."""
        return {
            "request_id": np.arange(self.n),
            "status": np.array([Status(s).name.lower() for s in self.status]),
            "worker": self.worker,
            "arrival_s": self.arrival_s,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "generated_tokens": self.generated,
            "first_token_s": self.first_token_s,
            "finish_s": self.finish_s,
            "ttft_s": self.first_token_s - self.arrival_s,
            "e2e_s": self.finish_s - self.arrival_s,
            "tpot_s": self.tpot_s(),
            "gpu_s": self.gpu_s,
            "preemptions": self.preemptions,
            "recomputed_tokens": self.recomputed_tokens,
        }

    def tpot_s(self) -> np.ndarray:
        """Mean time per output token after the first (NaN for one-token or unfinished requests)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            tpot = (self.finish_s - self.first_token_s) / (self.output_tokens - 1)
        tpot[self.output_tokens <= 1] = np.nan
        return tpot
