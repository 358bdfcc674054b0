"""The request table: every request of a run as one row of columns.

Requests are not Python objects. A request is an integer id indexing these columns, which the
workload fills at the start (arrival times, lengths) and the engines update as the request moves
through queue, prefill and decode. During the run the columns the engines write are plain Python
lists, whose scalar reads and writes cost a fraction of a numpy element's (measured: lists saved about
4 % of the simulator's instructions per request); :meth:`RequestTable.freeze` turns them into numpy arrays at the end, and
the per-request records are written as a table in one call.
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


#: Columns written during the run (lists until :meth:`RequestTable.freeze`), with their numpy types.
LIVE_COLUMNS = {
    "arrival_s": float,
    "worker": np.int64,
    "first_token_s": float,
    "finish_s": float,
    "generated": np.int64,  # output tokens produced so far
    "gpu_s": float,  # GPU-seconds of the iterations it took part in, its token share
    "preemptions": np.int64,
    "recomputed_tokens": np.int64,  # tokens processed again after preemption
    "kv_transfer_s": float,  # disaggregated: its KV cache's move from prefill to decode worker (0: none)
    "status": np.int8,
}


class RequestTable:
    """Columns of per-request state and records, indexed by request id."""

    def __init__(self, input_tokens: np.ndarray, output_tokens: np.ndarray, arrival_s: np.ndarray | None = None):
        n = len(input_tokens)
        self.n = n
        self.input_tokens = np.asarray(input_tokens, dtype=np.int64)
        self.output_tokens = np.asarray(output_tokens, dtype=np.int64)
        self.input_list: list[int] = self.input_tokens.tolist()  # read-only copies for scalar access
        self.output_list: list[int] = self.output_tokens.tolist()
        nan = float("nan")
        self.arrival_s = [nan] * n if arrival_s is None else np.asarray(arrival_s, dtype=float).tolist()
        self.worker = [-1] * n
        self.first_token_s = [nan] * n
        self.finish_s = [nan] * n
        self.generated = [0] * n
        self.gpu_s = [0.0] * n
        self.preemptions = [0] * n
        self.recomputed_tokens = [0] * n
        self.kv_transfer_s = [0.0] * n
        self.status = [int(Status.NOT_ARRIVED)] * n
        self.spec_z = [0.0] * n  # standard normal per request: its draft acceptance luck (speculative decoding)
        self.frozen = False

    def freeze(self) -> None:
        """End of the run: turn the live columns into numpy arrays (idempotent)."""
        if not self.frozen:
            for name, dtype in LIVE_COLUMNS.items():
                setattr(self, name, np.array(getattr(self, name), dtype=dtype))
            self.frozen = True

    def columns(self) -> dict[str, np.ndarray]:
        """The per-request records, one array per column."""
        return {
            "request_id": np.arange(self.n),
            "status": np.array([s.name.lower() for s in Status])[self.status],
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
            "kv_transfer_s": self.kv_transfer_s,
        }

    def tpot_s(self) -> np.ndarray:
        """Mean time per output token after the first (NaN for one-token or unfinished requests)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            tpot = (self.finish_s - self.first_token_s) / (self.output_tokens - 1)
        tpot[self.output_tokens <= 1] = np.nan
        return tpot
