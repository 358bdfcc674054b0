"""The serving engine of one worker: continuous batching with chunked prefill, as a SimPy process.

A worker (``tp`` GPUs holding one model replica) runs iterations back to back while it has work. Each
iteration carries one decode token for every request that has finished its prefill, and fills the rest
of its token budget with prefill chunks: first those of requests already admitted, then of new requests
taken from the worker's FIFO queue. A request is admitted while the batch has a free slot and its whole
prompt (plus the slot of its first output token) fits in the free KV cache. The KV cache is the HBM left
after weights and activations; every decode step grows each request's cache by one token, and when the
growth does not fit the most recently admitted request is preempted: its cache is freed and it goes back
to the head of the queue, to recompute its prompt and the tokens it had generated.

The last prefill chunk of a request samples its first output token (its TTFT); each decode iteration
samples one more; a request completes at its last output token.

Event skipping. Between two changes of the batch (an admission, a completion, a preemption, the end of a
prefill chunk) a run of decode-only iterations is predictable: the batch is fixed and its total context
grows by one token per request per iteration. With ``engine.event_skipping`` the engine advances such a
run in one SimPy event, timed by one vectorised call of the performance model. A request arriving during
the run can only join at an iteration boundary: the engine is woken, finishes the iteration in progress,
and plans again, exactly as stepping iteration by iteration would (the times agree to floating-point
rounding of the summed iteration times). With ``event_skipping: false`` every iteration is an event.

Each request is charged the GPU-seconds of the iterations it took part in, in proportion to the tokens
it had in each.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

import numpy as np
import simpy

from sim.config import EngineConfig
from sim.perf import PerformanceModel
from sim.requests import RequestTable, Status


class Engine:
    """One worker's continuous-batching engine over a shared :class:`RequestTable`."""

    def __init__(
        self,
        env: simpy.Environment,
        worker_id: int,
        gpus: int,
        perf: PerformanceModel,
        cfg: EngineConfig,
        kv_capacity_tokens: float,
        kv_fixed_tokens: float,
        requests: RequestTable,
        on_complete: Callable[[int], None],
    ):
        self.env = env
        self.worker_id = worker_id
        self.gpus = gpus
        self.perf = perf
        self.max_batch = cfg.max_batch_size
        self.max_tokens = cfg.max_tokens_per_iteration
        self.event_skipping = cfg.event_skipping
        self.kv_capacity = kv_capacity_tokens  # in tokens of KV cache (per-GPU bytes / per-token bytes)
        self.kv_fixed = kv_fixed_tokens  # sliding-window cache reserved per request, in token units
        self.requests = requests
        self.on_complete = on_complete

        self.queue: deque[int] = deque()
        self.admitted: list[int] = []  # running requests in admission order (last = first to preempt)
        self.prefilling: list[int] = []  # running requests still in prefill, FIFO
        self.decoding: list[int] = []  # running requests past their prefill
        self.prompt_tokens: dict[int, int] = {}  # tokens to prefill at this admission
        self.prefilled_tokens: dict[int, int] = {}
        self.kv_used = 0.0  # tokens of KV cache reserved
        self.decode_context = 0  # total context (input + generated) of the decoding requests
        self._wake: simpy.Event | None = None
        self._wake_on_arrival = False

        # Counters (read by metrics at the end)
        self.busy_s = 0.0
        self.events = 0
        self.iterations = 0
        self.prefill_tokens_done = 0
        self.decode_tokens_done = 0
        self.preemptions = 0
        self.process = env.process(self.run())

    # --- interface for the router ----------------------------------------------------------
    @property
    def outstanding(self) -> int:
        """Requests queued or running on this worker."""
        return len(self.queue) + len(self.admitted)

    @property
    def queued(self) -> int:
        return len(self.queue)

    def submit(self, rid: int) -> None:
        """Put a request in this worker's queue; wake the engine if it can take it now."""
        self.queue.append(rid)
        self.requests.worker[rid] = self.worker_id
        self.requests.status[rid] = Status.QUEUED
        if self._wake is not None and self._wake_on_arrival and not self._wake.triggered:
            self._wake.succeed()

    # --- the process -----------------------------------------------------------------------
    def run(self):
        env = self.env
        while True:
            if not self.queue and not self.admitted:
                yield from self._sleep(None)
                continue
            preempted = self._make_room_for_decode()
            chunks = self._prefill_chunks()
            if not preempted:
                chunks += self._admit(sum(c for _, _, c in chunks))
            batch = len(self.decoding)
            if not chunks and not batch:
                raise RuntimeError(f"worker {self.worker_id}: queue cannot progress (engine bug)")

            if chunks or not self.event_skipping or preempted:
                yield from self._mixed_iteration(chunks)
                continue

            # A decode-only run: lasts until the first completion or until the KV cache is full.
            decoding = np.fromiter(self.decoding, dtype=np.int64, count=batch)
            remaining = self.requests.output_tokens[decoding] - self.requests.generated[decoding]
            n = int(min(remaining.min(), (self.kv_capacity - self.kv_used) // batch))
            contexts = self.decode_context + batch * np.arange(n)
            ends_s = np.cumsum(self.perf.iteration_time_s(0, 0.0, 0.0, batch, contexts))
            start_s = env.now
            can_admit = not self.queue and len(self.admitted) < self.max_batch
            yield from self._sleep(ends_s[-1], interruptible=can_admit)
            done = n
            if env.now < start_s + ends_s[-1]:
                # Woken by an arrival: finish the iteration in progress, then plan again.
                done = int(np.searchsorted(ends_s, env.now - start_s, side="left")) + 1
                done = min(done, n)
                yield from self._sleep(max(0.0, start_s + ends_s[done - 1] - env.now), interruptible=False)
            self._apply_decode_run(decoding, done, float(ends_s[done - 1]))

    def _sleep(self, duration_s: float | None, interruptible: bool = True):
        """Wait ``duration_s`` (forever if None), cut short by an admissible arrival if interruptible."""
        self.events += 1
        if duration_s is None or interruptible:
            self._wake = self.env.event()
            self._wake_on_arrival = True
            if duration_s is None:
                yield self._wake
            else:
                yield self.env.timeout(duration_s) | self._wake
            self._wake = None
            self._wake_on_arrival = False
        else:
            yield self.env.timeout(duration_s)

    # --- planning ----------------------------------------------------------------------------
    def _make_room_for_decode(self) -> bool:
        """Preempt the most recently admitted requests until this iteration's decode growth fits."""
        preempted = False
        while self.decoding and self.kv_used + len(self.decoding) > self.kv_capacity:
            self._preempt(self.admitted[-1])
            preempted = True
        return preempted

    def _prefill_chunks(self) -> list[tuple[int, int, int]]:
        """Chunks (request, start token, size) of admitted prompts that fit in the token budget."""
        budget = self.max_tokens - len(self.decoding)
        chunks = []
        for rid in self.prefilling:
            if budget <= 0:
                break
            start = self.prefilled_tokens[rid]
            size = min(self.prompt_tokens[rid] - start, budget)
            chunks.append((rid, start, size))
            budget -= size
        return chunks

    def _admit(self, tokens_planned: int) -> list[tuple[int, int, int]]:
        """Admit queued requests (FIFO) while batch slots, token budget and KV cache allow."""
        req = self.requests
        budget = self.max_tokens - len(self.decoding) - tokens_planned
        chunks = []
        growth = len(self.decoding)
        while self.queue and budget > 0 and len(self.admitted) < self.max_batch:
            rid = self.queue[0]
            prompt = int(req.input_tokens[rid] + req.generated[rid])
            reserve = prompt + 1 + self.kv_fixed
            if self.kv_used + growth + reserve > self.kv_capacity:
                break
            self.queue.popleft()
            self.kv_used += reserve
            self.admitted.append(rid)
            self.prefilling.append(rid)
            self.prompt_tokens[rid] = prompt
            self.prefilled_tokens[rid] = 0
            req.status[rid] = Status.RUNNING
            size = min(prompt, budget)
            chunks.append((rid, 0, size))
            budget -= size
        return chunks

    # --- advancing time ------------------------------------------------------------------------
    def _mixed_iteration(self, chunks: list[tuple[int, int, int]]):
        """One iteration of prefill chunks plus one decode token per decoding request."""
        req = self.requests
        prefill_tokens = sum(c for _, _, c in chunks)
        pairs = sum(c * s + c * (c + 1) / 2 for _, s, c in chunks)
        kv_read = sum(s + c for _, s, c in chunks)
        batch = len(self.decoding)
        t = float(self.perf.iteration_time_s(prefill_tokens, pairs, kv_read, batch, self.decode_context))
        yield from self._sleep(t, interruptible=False)

        gpu_s_per_token = self.gpus * t / (prefill_tokens + batch)
        self.busy_s += t
        self.iterations += 1
        self.prefill_tokens_done += prefill_tokens
        self.decode_tokens_done += batch
        finished = []
        if batch:
            decoding = np.fromiter(self.decoding, dtype=np.int64, count=batch)
            req.generated[decoding] += 1
            req.gpu_s[decoding] += gpu_s_per_token
            self.kv_used += batch
            self.decode_context += batch
            finished.extend(decoding[req.generated[decoding] >= req.output_tokens[decoding]].tolist())
        for rid, start, size in chunks:
            req.gpu_s[rid] += gpu_s_per_token * size
            self.prefilled_tokens[rid] = start + size
            if start + size == self.prompt_tokens[rid]:
                self._finish_prefill(rid)
                if req.generated[rid] >= req.output_tokens[rid]:
                    finished.append(rid)
        for rid in finished:
            self._complete(rid)

    def _apply_decode_run(self, decoding: np.ndarray, iterations: int, duration_s: float) -> None:
        """Advance ``iterations`` decode-only iterations of the fixed batch ``decoding``."""
        req = self.requests
        batch = len(decoding)
        req.generated[decoding] += iterations
        req.gpu_s[decoding] += self.gpus * duration_s / batch
        self.kv_used += batch * iterations
        self.decode_context += batch * iterations
        self.busy_s += duration_s
        self.iterations += iterations
        self.decode_tokens_done += batch * iterations
        for rid in decoding[req.generated[decoding] >= req.output_tokens[decoding]].tolist():
            self._complete(rid)

    # --- request transitions -------------------------------------------------------------------
    def _finish_prefill(self, rid: int) -> None:
        """The last chunk sampled a token: the request joins the decode batch."""
        req = self.requests
        self.prefilling.remove(rid)
        del self.prompt_tokens[rid], self.prefilled_tokens[rid]
        if req.generated[rid] == 0:
            req.first_token_s[rid] = self.env.now
        req.generated[rid] += 1
        self.decoding.append(rid)
        self.decode_context += int(req.input_tokens[rid] + req.generated[rid])

    def _release(self, rid: int) -> None:
        """Free a running request's batch slot and KV cache."""
        req = self.requests
        self.admitted.remove(rid)
        held = req.input_tokens[rid] + req.generated[rid] + self.kv_fixed
        if rid in self.prompt_tokens:  # still in prefill: its first-token slot was reserved too
            self.prefilling.remove(rid)
            del self.prompt_tokens[rid], self.prefilled_tokens[rid]
            held += 1
        else:
            self.decoding.remove(rid)
            self.decode_context -= int(req.input_tokens[rid] + req.generated[rid])
        self.kv_used -= float(held)

    def _complete(self, rid: int) -> None:
        req = self.requests
        self._release(rid)
        req.status[rid] = Status.COMPLETED
        req.finish_s[rid] = self.env.now
        self.on_complete(rid)

    def _preempt(self, rid: int) -> None:
        """Free a request's cache and requeue it at the head, to recompute what it had."""
        req = self.requests
        if rid in self.prefilled_tokens:
            processed = self.prefilled_tokens[rid]
        else:  # its prompt, and every generated token but the last, went through the model
            processed = int(req.input_tokens[rid] + req.generated[rid]) - 1
        self._release(rid)
        req.status[rid] = Status.QUEUED
        req.preemptions[rid] += 1
        req.recomputed_tokens[rid] += processed
        self.preemptions += 1
        self.queue.appendleft(rid)
