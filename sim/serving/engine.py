"""The serving engine of one worker: continuous batching with chunked prefill, on SimPy's event queue.

A worker (``tp`` GPUs holding one model replica) runs iterations back to back while it has work. Each
iteration carries one decode token (1 + d with d draft tokens) for every request that has finished its
prefill, and fills the rest of its token budget with prefill chunks: first those of requests already
admitted, then of new requests taken from the worker's FIFO queue. A request is admitted while the batch
has a free slot and its whole prompt (plus the slot of its first output token) fits in the free KV cache.
The KV cache is the HBM left after weights and activations; every decode step grows each request's cache
by one token, and when the growth does not fit the most recently admitted request is preempted: its cache
is freed and it goes back to the head of the queue, to recompute its prompt and the tokens it had generated.

The last prefill chunk of a request samples its first output token (its TTFT); each decode iteration
samples one more; a request completes at its last output token.

Event skipping. Between two changes of the batch (an admission, a completion, a preemption, the end of a
prefill chunk) a run of decode-only iterations is predictable: the batch is fixed and its total context
grows by one token per request per iteration. With ``engine.event_skipping`` the engine advances such a
run in one event, timed in closed form by the performance model (:class:`sim.serving.perf.DecodeRun`). A request
arriving during the run can only join at an iteration boundary: the engine moves its wake-up to the end
of the iteration in progress and plans again there, exactly as stepping iteration by iteration would
(per-request times agree to the rounding of summed iteration times). With ``event_skipping: false`` every
iteration is an event.

O(1) bookkeeping. A run of k decode iterations costs O(1) whatever the batch: the engine keeps a decode
clock (``step``, the decode iterations it has run) and a running total of the GPU-seconds charged to one
decode token. A decoding request stores the step at which it will finish and the total when it joined, so
its generated tokens and its cost are derived when it leaves; a heap of finish steps gives the next
completion. Each request is charged the GPU-seconds of the iterations it took part in, in proportion to
the tokens it had in each.

The engine is a state machine driven by wake-up events on the simulation's SimPy environment rather than
a generator process: an arrival must be able to bring the next wake-up forward, and a wake-up tagged with
an epoch that a later plan superseded is simply ignored.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Callable

from sim.clock import FleetEnvironment
from sim.config import EngineConfig
from sim.serving.perf import DecodeRun, PerformanceModel
from sim.serving.requests import RequestTable, Status
from sim.serving.speculative import Speculation

_QUEUED, _RUNNING, _COMPLETED = int(Status.QUEUED), int(Status.RUNNING), int(Status.COMPLETED)


class Engine:
    """One worker's continuous-batching engine over a shared :class:`RequestTable`."""

    def __init__(
        self,
        env: FleetEnvironment,
        worker_id: int,
        gpus: int,
        perf: PerformanceModel,
        cfg: EngineConfig,
        kv_capacity_tokens: float,
        kv_fixed_tokens: float,
        requests: RequestTable,
        on_complete: Callable[[int], None],
        horizon_s: float = float("inf"),
        spec: Speculation | None = None,
        role: str = "aggregated",
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
        self._input = requests.input_list  # plain lists: faster scalar reads than numpy in the hot path
        self._output = requests.output_list
        self._status = requests.status
        self._worker_of = requests.worker
        self._generated = requests.generated
        self._gpu_s = requests.gpu_s
        self._first_token_s = requests.first_token_s
        self._finish_s = requests.finish_s
        self.on_complete = on_complete  # a request completed (prefill role: its prefill is done)
        self.horizon_s = horizon_s  # the clock stops here: work ending later stays in progress
        self.spec = spec or Speculation(cfg.speculative)
        self._spec_z = requests.spec_z
        self.prefill_only = role == "prefill"  # hands every request over at the end of its prefill
        self.kv_ready: set[int] = set()  # decode role: requests whose KV cache arrived from a prefill worker

        self.queue: deque[int] = deque()
        self.admitted: dict[int, None] = {}  # running requests in admission order (last: first to preempt)
        self.prefilling: dict[int, list[int]] = {}  # rid -> [prompt tokens, tokens prefilled], FIFO
        # rid -> (finish step, gpu_s_per_decode_token when it joined, step when it joined, tokens left then)
        self.decoding: dict[int, tuple[int, float, int, int]] = {}
        self._finish_heap: list[tuple[int, int]] = []  # (finish step, rid) of every decoding request
        self.step = 0  # decode iterations run so far
        self.gpu_s_per_decode_token = 0.0  # cumulative GPU-seconds charged to one decode token per iteration
        self.kv_used = 0.0  # tokens of KV cache reserved
        self.decode_context = 0.0  # total context (input + generated) of the decoding requests
        # Context the decoding batch adds per iteration: one token per request, or with speculative
        # decoding each request's own rate (its tokens left when it joined over its drawn iterations).
        self.decode_growth = 0.0

        # The work in progress: one iteration with prefill chunks, or a run of decode iterations.
        self._epoch = 0  # tags the current wake-up; older wake-ups are ignored
        self._busy = False
        self._mixed: tuple[list[tuple[int, int, int]], int, float] | None = None  # chunks, tokens, duration
        self._run: DecodeRun | None = None
        self._run_start_s = 0.0
        self._run_iterations = 0
        self._run_duration_s = 0.0
        self._run_batch = 0
        self._interruptible = False  # an arrival may join the run at its next iteration boundary

        # Counters (read by metrics at the end)
        self.busy_s = 0.0
        self.events = 0
        self.iterations = 0
        self.prefill_tokens_done = 0
        self.decode_steps_done = 0  # decode steps of requests (tokens, without speculative decoding)
        self.prefills_done = 0  # prompts fully prefilled (each samples one token)
        self.preemptions = 0
        self._wake_callback = self._on_wake  # one bound method, not one per wake-up

    # --- interface for the router ----------------------------------------------------------
    @property
    def outstanding(self) -> int:
        """Requests queued or running on this worker."""
        return len(self.queue) + len(self.admitted)

    @property
    def queued(self) -> int:
        return len(self.queue)

    def submit(self, rid: int, kv_ready: bool = False) -> None:
        """Put a request in this worker's queue; make sure the engine looks at it at its next boundary.

        ``kv_ready``: its prompt was prefilled elsewhere and its KV cache transferred here, so it joins
        the decode batch directly when admitted.
        """
        if kv_ready:
            self.kv_ready.add(rid)
        self.queue.append(rid)
        self._worker_of[rid] = self.worker_id
        self._status[rid] = _QUEUED
        if not self._busy:
            self._busy = True
            self._wake_at(self.env.now)  # after every arrival of this instant
        elif self._interruptible:
            self._interruptible = False
            now_s = self.env.now
            elapsed_s = now_s - self._run_start_s
            # Before the run starts (a prefill iteration is in progress) join at its start; from its
            # start on, join after the iteration in progress.
            run = self._run
            assert run is not None  # only a planned decode run is interruptible
            done, duration_s = run.boundary(elapsed_s) if elapsed_s >= 0 else (0, 0.0)
            if done < self._run_iterations:
                self._run_iterations, self._run_duration_s = done, duration_s
                self._wake_at(max(now_s, self._run_start_s + duration_s))

    # --- wake-ups --------------------------------------------------------------------------------
    def _wake_at(self, time_s: float) -> None:
        self._epoch += 1
        self.env.call_at(time_s, self._wake_callback, self._epoch)

    def _on_wake(self, epoch: int) -> None:
        if epoch != self._epoch:
            return  # superseded by a later plan
        self.events += 1
        self._interruptible = False  # completions below may submit to this engine: it plans next anyway
        now_s = self.env.now
        if self._run is not None:
            self._run = None
            self._apply_decode_run(self._run_iterations, self._run_duration_s, now_s)
        elif self._mixed is not None:
            chunks, prefill_tokens, duration_s = self._mixed
            self._mixed = None
            self._apply_mixed(chunks, prefill_tokens, duration_s, now_s)
        self._plan(now_s)

    def _plan(self, now_s: float) -> None:
        """Decide the next iteration (or run of decode iterations) and schedule its end."""
        queue = self.queue
        if not queue and not self.admitted:
            self._busy = False
            return
        batch = len(self.decoding)
        preempted = batch > 0 and self.kv_used + self.decode_growth > self.kv_capacity and self._make_room_for_decode()
        chunks = self._prefill_chunks() if self.prefilling else []
        if queue and not preempted:
            chunks += self._admit(sum(c for _, _, c in chunks) if chunks else 0)
        batch = len(self.decoding)
        if not chunks:
            if not batch:
                raise RuntimeError(f"worker {self.worker_id}: queue cannot progress (engine bug)")
            self._plan_decode_run(now_s, preempted)
            return
        prefill_tokens = kv_read = 0
        pairs = 0.0
        for _, start, size in chunks:
            prefill_tokens += size
            pairs += size * start + size * (size + 1) / 2
            kv_read += start + size
        duration_s = self.perf.iteration_time_s(prefill_tokens, pairs, kv_read, batch, self.decode_context, len(chunks))
        end_s = now_s + duration_s
        quiet = self.event_skipping and not preempted and not queue and not self.prefill_only and end_s < self.horizon_s
        if quiet and self._ends_quietly(chunks):
            # Nothing can happen at its end but decoding: apply it now, plan the decode run after it.
            self._apply_mixed(chunks, prefill_tokens, duration_s, end_s)
            self._plan_decode_run(end_s, False)
        else:
            self._mixed = (chunks, prefill_tokens, duration_s)
            self._wake_at(end_s)

    def _ends_quietly(self, chunks: list[tuple[int, int, int]]) -> bool:
        """Will this iteration end with every prompt prefilled, nothing complete and room to decode on?"""
        prefilling = self.prefilling
        if len(chunks) < len(prefilling):
            return False  # a prompt left waiting for budget gets its chunk next iteration
        generated, output = self._generated, self._output
        for rid, start, size in chunks:
            if start + size < prefilling[rid][0] or generated[rid] + 1 >= output[rid]:
                return False
        batch = len(self.decoding)
        if batch and self._finish_heap[0][0] == self.step + 1:
            return False
        # room for this iteration's growth and the next one's, new decoders at their fastest
        return self.kv_used + 2 * self.decode_growth + len(chunks) * self.spec.query_tokens <= self.kv_capacity

    def _plan_decode_run(self, start_s: float, preempted: bool) -> None:
        """Plan decode-only iterations from ``start_s``: until a completion or a full cache (or just one)."""
        batch = len(self.decoding)
        run = self.perf.decode_run(batch, self.decode_context, self.decode_growth)
        if preempted or not self.event_skipping:
            iterations = 1
        else:
            room = int((self.kv_capacity - self.kv_used) // self.decode_growth)
            # at least one: _plan made room for it (the floor may round a last exact fit down)
            iterations = max(1, min(self._finish_heap[0][0] - self.step, room))
            self._interruptible = not self.queue and len(self.admitted) < self.max_batch
        duration_s = run.elapsed_s(iterations)
        self._run, self._run_start_s, self._run_batch = run, start_s, batch
        self._run_iterations, self._run_duration_s = iterations, duration_s
        self._wake_at(start_s + duration_s)

    # --- planning ----------------------------------------------------------------------------
    def _make_room_for_decode(self) -> bool:
        """Preempt the most recently admitted requests until this iteration's decode growth fits."""
        preempted = False
        while self.decoding and self.kv_used + self.decode_growth > self.kv_capacity:
            self._preempt(next(reversed(self.admitted)))
            preempted = True
        return preempted

    def _prefill_chunks(self) -> list[tuple[int, int, int]]:
        """Chunks (request, start token, size) of admitted prompts that fit in the token budget (what
        the decoding requests leave of it: 1 + d query tokens each with speculative decoding)."""
        budget = self.max_tokens - len(self.decoding) * self.spec.query_tokens
        chunks = []
        for rid, (prompt, done) in self.prefilling.items():
            if budget <= 0:
                break
            size = min(prompt - done, budget)
            chunks.append((rid, done, size))
            budget -= size
        return chunks

    def _admit(self, tokens_planned: int) -> list[tuple[int, int, int]]:
        """Admit queued requests (FIFO) while batch slots, token budget and KV cache allow.

        A request to prefill reserves its prompt and the slot of the token its prefill samples; one
        whose KV cache was transferred here reserves what it holds and joins the decode batch.
        """
        budget = self.max_tokens - len(self.decoding) * self.spec.query_tokens - tokens_planned
        chunks = []
        kv_ready = self.kv_ready
        while self.queue and budget > 0 and len(self.admitted) < self.max_batch:
            rid = self.queue[0]
            prompt = self._input[rid] + self._generated[rid]
            ready = rid in kv_ready
            if ready:  # its cache and its first decode step must fit
                left, iterations = self._decode_plan(rid)
                reserve = prompt + self.kv_fixed
                first_step = left / iterations
            else:
                reserve, first_step = prompt + 1 + self.kv_fixed, 0.0
            if self.kv_used + self.decode_growth + reserve + first_step > self.kv_capacity:
                break
            self.queue.popleft()
            self.kv_used += reserve
            self.admitted[rid] = None
            self._status[rid] = _RUNNING
            if ready:
                kv_ready.discard(rid)
                self._join_decode(rid, left, iterations)
                budget -= self.spec.query_tokens
                continue
            self.prefilling[rid] = [prompt, 0]
            size = min(prompt, budget)
            chunks.append((rid, 0, size))
            budget -= size
        return chunks

    # --- advancing the state -------------------------------------------------------------------
    def _apply_mixed(self, chunks: list[tuple[int, int, int]], prefill_tokens: int, duration_s: float, end_s: float) -> None:
        """End (at ``end_s``) of an iteration of prefill chunks plus one decode token per decoding request."""
        batch = len(self.decoding)
        gpu_s_per_token = self.gpus * duration_s / (prefill_tokens + batch)
        self.busy_s += duration_s
        self.iterations += 1
        self.prefill_tokens_done += prefill_tokens
        self.decode_steps_done += batch
        if batch:
            self.step += 1
            self.gpu_s_per_decode_token += gpu_s_per_token
            self.kv_used += self.decode_growth
            self.decode_context += self.decode_growth
        gpu_s = self._gpu_s
        for rid, start, size in chunks:
            gpu_s[rid] += gpu_s_per_token * size
            entry = self.prefilling[rid]
            entry[1] = start + size
            if entry[1] == entry[0]:
                self._finish_prefill(rid, end_s)
        self._complete_finished(end_s)

    def _apply_decode_run(self, iterations: int, duration_s: float, now_s: float) -> None:
        """End (at ``now_s``) of ``iterations`` decode-only iterations of a fixed batch, in O(1)."""
        batch = self._run_batch
        self.step += iterations
        self.gpu_s_per_decode_token += self.gpus * duration_s / batch
        growth = iterations * self.decode_growth
        self.kv_used += growth
        self.decode_context += growth
        self.busy_s += duration_s
        self.iterations += iterations
        self.decode_steps_done += batch * iterations
        heap = self._finish_heap
        if heap and heap[0][0] <= self.step:
            self._complete_finished(now_s)

    def _complete_finished(self, now_s: float) -> None:
        heap, step = self._finish_heap, self.step
        while heap and heap[0][0] <= step:
            self._complete(heapq.heappop(heap)[1], now_s)

    def settle(self) -> None:
        """At the end of the clock: apply the decode iterations that ended by now, sync the request table."""
        if self._run is not None:
            elapsed_s = self.env.now - self._run_start_s
            done, duration_s = self._run.boundary(elapsed_s)
            if duration_s > elapsed_s:
                done -= 1
                duration_s = self._run.elapsed_s(done)
            if done > 0:
                self._apply_decode_run(done, duration_s, self._run_start_s + duration_s)
            self._run = None
        for rid, (finish, mark, joined, left) in self.decoding.items():
            self._generated[rid] = self._generated_at(rid, finish, joined, left)
            self._gpu_s[rid] += self.gpu_s_per_decode_token - mark
            self.decoding[rid] = (finish, self.gpu_s_per_decode_token, joined, left)

    # --- request transitions -------------------------------------------------------------------
    def _finish_prefill(self, rid: int, now_s: float) -> None:
        """The last chunk sampled a token: the request joins the decode batch (or is done, or, on a
        prefill worker, leaves for a decode worker)."""
        del self.prefilling[rid]
        self.prefills_done += 1
        generated = self._generated[rid]
        if generated == 0:
            self._first_token_s[rid] = now_s
        generated += 1
        self._generated[rid] = generated
        if generated >= self._output[rid]:
            self._complete(rid, now_s)
        elif self.prefill_only:
            self._release(rid)
            self._status[rid] = _QUEUED
            self.on_complete(rid)
        else:
            self._join_decode(rid, *self._decode_plan(rid))

    def _decode_plan(self, rid: int) -> tuple[int, int]:
        """Tokens a request still has to decode, and the decode iterations that will take."""
        left = self._output[rid] - self._generated[rid]
        return left, self.spec.iterations(left, self._spec_z[rid]) if self.spec.enabled else left

    def _join_decode(self, rid: int, left: int, iterations: int) -> None:
        """The request decodes its ``left`` tokens in ``iterations`` iterations from the next on (see
        :meth:`_decode_plan`); its finish step is known now. Its context grows by left / iterations tokens
        per iteration, so it holds exactly its final context at the end."""
        finish = self.step + iterations
        self.decoding[rid] = (finish, self.gpu_s_per_decode_token, self.step, left)
        heapq.heappush(self._finish_heap, (finish, rid))
        self.decode_context += self._input[rid] + self._output[rid] - left
        self.decode_growth += left / iterations

    def _generated_at(self, rid: int, finish: int, joined: int, left: int) -> int:
        """Tokens a decoding request has generated by the current step (its share of its iterations)."""
        iterations = finish - joined
        return self._output[rid] - left + (left * (self.step - joined)) // iterations

    def _release(self, rid: int) -> None:
        """Free a running request's batch slot and KV cache; write back its tokens and cost."""
        del self.admitted[rid]
        prompt = self._input[rid]
        entry = self.decoding.pop(rid, None)
        if entry is not None:  # (_generated_at, inline: this is the hot path)
            finish, mark, joined, left = entry
            done, iterations = self.step - joined, finish - joined
            self._generated[rid] = self._output[rid] - left + (left * done) // iterations
            self._gpu_s[rid] += self.gpu_s_per_decode_token - mark
            held = prompt + self._output[rid] - left + done * left / iterations
            self.decode_context -= held
            self.decode_growth = self.decode_growth - left / iterations if self.decoding else 0.0
        elif self.prefilling.pop(rid, None) is not None:  # its first-token slot was reserved too
            held = prompt + self._generated[rid] + 1.0
        else:  # completed (or handed over) at the end of its prefill
            held = float(prompt + self._generated[rid])
        self.kv_used -= held + self.kv_fixed

    def _complete(self, rid: int, now_s: float) -> None:
        """The request sampled its last token at ``now_s`` (the end of the iteration that ends now)."""
        self._release(rid)
        self._status[rid] = _COMPLETED
        self._finish_s[rid] = now_s
        self.on_complete(rid)

    def _preempt(self, rid: int) -> None:
        """Free a request's cache and requeue it at the head, to recompute what it had."""
        req = self.requests
        if rid in self.prefilling:
            processed = self.prefilling[rid][1]
        else:  # its prompt, and every generated token but the last, went through the model
            finish, _, joined, left = self.decoding[rid]
            processed = self._input[rid] + self._generated_at(rid, finish, joined, left) - 1
            self._finish_heap.remove((finish, rid))  # rare: O(batch) is fine
            heapq.heapify(self._finish_heap)
        self._release(rid)
        self.kv_ready.discard(rid)  # recomputed here if it was transferred
        req.status[rid] = _QUEUED
        req.preemptions[rid] += 1
        req.recomputed_tokens[rid] += processed
        self.preemptions += 1
        self.queue.appendleft(rid)
