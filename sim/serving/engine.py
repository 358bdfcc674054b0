"""The serving engine of one worker: continuous batching with chunked prefill, on SimPy's event queue.

A worker (``tp`` GPUs holding one model replica) runs iterations back to back while it has work. Each
iteration carries one decode token (1 + d with d draft tokens) for every request that has finished its
prefill and fills the rest of its token budget with prefill chunks (of admitted requests first, then of new ones from its FIFO queue;
with attention data parallelism the batch limit and the token budget are each rank's, times its ranks).
A request is admitted while the batch has a free slot and its prompt (plus its first output token) fits in
the free KV cache; when a decode step's growth does not fit, the latest admitted request is preempted and
requeued at the head, to recompute what it had. A prompt's last chunk samples its first token (its TTFT).

Event skipping. Between two changes of the batch a run of decode-only iterations is predictable (its
context grows by one token per request per iteration): with ``engine.event_skipping`` it is one event,
timed in closed form (:class:`sim.serving.perf.DecodeRun`). A request arriving during the run, or a
change of the rates of the worker's shared links (:meth:`Engine.replan`), takes effect at the next
iteration boundary: the engine moves its wake-up to the end of the iteration in progress and plans again
there, exactly as stepping iteration by iteration would (to the rounding of summed iteration times). An
iteration with prefill in progress finishes its work at the new rates (:meth:`Engine._retime_mixed`).

O(1) bookkeeping. The engine keeps a decode clock (``step``) and a running total of the GPU-seconds
charged to one decode token; a decoding request stores its finish step and the total when it joined, so
its tokens and cost are derived when it leaves; a heap of finish steps gives the next completion. Each
request is charged the GPU-seconds of the iterations it took part in, in proportion to its tokens in each.
The engine is a state machine driven by wake-ups on the simulation's clock (a wake-up tagged with an epoch
that a later plan superseded is ignored), not a generator process: an arrival must be able to bring it forward.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Callable

from sim.base.clock import FleetEnvironment
from sim.base.config import EngineConfig
from sim.serving.iteration import DecodeRun, Parts
from sim.serving.perf import PerformanceModel, RooflinePerf
from sim.serving.requests import RequestTable, Status
from sim.serving.speculative import Speculation

_QUEUED, _RUNNING, _COMPLETED = int(Status.QUEUED), int(Status.RUNNING), int(Status.COMPLETED)


class Engine:
    """One worker's continuous-batching engine over a shared :class:`RequestTable`."""

    def __init__(self, env: FleetEnvironment, worker_id: int, gpus: int, perf: PerformanceModel, cfg: EngineConfig, kv_capacity_tokens: float,
                 kv_fixed_tokens: float, requests: RequestTable, on_complete: Callable[[int], None], horizon_s: float = float("inf"),
                 spec: Speculation | None = None, role: str = "aggregated", on_busy: Callable[[bool], None] | None = None,
                 attention_ranks: int = 1):
        self.env, self.worker_id, self.gpus, self.perf = env, worker_id, gpus, perf
        # With attention data parallelism each of the worker's ranks schedules its own requests and chunks: the
        # limits are per rank, and a prompt's chunk (on one rank) is at most one rank's budget.
        self.max_batch, self.max_tokens = cfg.max_batch_size * attention_ranks, cfg.max_tokens_per_iteration * attention_ranks
        self.max_chunk, self.event_skipping = cfg.max_tokens_per_iteration, cfg.event_skipping
        self.kv_capacity = kv_capacity_tokens  # in tokens of KV cache (per-GPU bytes / per-token bytes)
        self.kv_fixed = kv_fixed_tokens  # sliding-window cache reserved per request, in token units
        self.requests = requests  # and its columns as plain lists: faster scalar reads than numpy in the hot path
        self._input, self._output, self._status, self._worker_of = requests.input_list, requests.output_list, requests.status, requests.worker
        self._generated, self._gpu_s = requests.generated, requests.gpu_s
        self._first_token_s, self._finish_s = requests.first_token_s, requests.finish_s
        self.on_complete = on_complete  # a request completed (prefill role: its prefill is done)
        self.horizon_s = horizon_s  # the clock stops here: work ending later stays in progress
        self.spec = spec or Speculation(cfg.speculative)
        self._spec_z = requests.spec_z
        self.prefill_only = role == "prefill"  # hands every request over at the end of its prefill
        self.kv_ready: set[int] = set()  # decode role: requests whose KV cache arrived from a prefill worker
        self.on_busy = on_busy  # told when the worker becomes busy or idle (its flows on shared links)
        self._roofline: RooflinePerf | None = perf if isinstance(perf, RooflinePerf) else None
        # seconds (and bytes) of the iterations run, in the roofline's parts; None for other models
        self.part_totals: Parts | None = Parts() if self._roofline is not None else None

        self.queue: deque[int] = deque()
        self.admitted: dict[int, None] = {}  # running requests in admission order (last: first to preempt)
        self.prefilling: dict[int, list[int]] = {}  # rid -> [prompt tokens, tokens prefilled], FIFO
        # rid -> (finish step, gpu_s_per_decode_token when it joined, step when it joined, tokens left then)
        self.decoding: dict[int, tuple[int, float, int, int]] = {}
        self._finish_heap: list[tuple[int, int]] = []  # (finish step, rid) of every decoding request
        self.step = 0  # decode iterations run so far
        self.gpu_s_per_decode_token = 0.0  # cumulative GPU-seconds charged to one decode token per iteration
        self.kv_used, self.decode_context = 0.0, 0.0  # KV tokens reserved; context of the decoding requests
        # Context the decoding batch adds per iteration: one token per request, or with MTP each request's
        self.decode_growth = 0.0  # own rate (its tokens left when it joined over its drawn iterations)

        # The work in progress: one iteration with prefill chunks, or a run of decode iterations.
        self._epoch, self._busy = 0, False  # the epoch tags the current wake-up; older wake-ups are ignored
        self._mixed: tuple[list[tuple[int, int, int]], int, float, Parts | None] | None = None  # chunks, tokens, s, parts
        self._mixed_shape = (0, 0.0, 0, 0, 0.0, 0)  # its iteration_time_s arguments, and its progress (see _retime_mixed)
        self._mixed_progress: tuple[float, float, float, Parts | None] = (0.0, 0.0, 0.0, None)
        self._run: DecodeRun | None = None
        self._run_start_s, self._run_iterations, self._run_duration_s, self._run_batch = 0.0, 0, 0.0, 0
        self._interruptible = False  # an arrival may join the run at its next iteration boundary

        self.busy_s, self.events, self.iterations, self.prefill_tokens_done, self.preemptions = 0.0, 0, 0, 0, 0  # counters
        # decode steps of requests (tokens, without speculative decoding); prompts fully prefilled (each samples a token)
        self.decode_steps_done, self.prefills_done = 0, 0
        self._wake_callback = self._on_wake  # one bound method, not one per wake-up

    # --- interface for the router ----------------------------------------------------------
    @property
    def outstanding(self) -> int:  # requests queued or running on this worker
        return len(self.queue) + len(self.admitted)

    @property
    def queued(self) -> int:
        return len(self.queue)

    def submit(self, rid: int, kv_ready: bool = False) -> None:
        """Queue a request; the engine looks at it at its next boundary. ``kv_ready``: its prompt was
        prefilled elsewhere and its KV cache transferred here: it joins the decode batch when admitted."""
        if kv_ready:
            self.kv_ready.add(rid)
        self.queue.append(rid)
        self._worker_of[rid] = self.worker_id
        self._status[rid] = _QUEUED
        if not self._busy:
            self._busy = True
            if self.on_busy is not None:
                self.on_busy(True)
            self._wake_at(self.env.now)  # after every arrival of this instant
        elif self._interruptible:
            self._cut_run()

    def replan(self) -> None:
        """Link rates changed: a prefill iteration finishes at the new rates, a decode run replans at its next boundary."""
        if self._run is not None:
            self._cut_run()
        elif self._mixed is not None:
            self._retime_mixed()

    def _retime_mixed(self) -> None:
        """The rest of the iteration in progress takes its share of the time at the new rates (not held at its first)."""
        assert self._mixed is not None
        chunks, prefill_tokens, duration_s, parts = self._mixed
        mark_s, done, full_s, full_parts = self._mixed_progress  # share done by mark_s; time and parts at the rates since
        now_s, roofline, done = self.env.now, self._roofline, min(1.0, done + (self.env.now - mark_s) / full_s) if full_s > 0 else 1.0
        if done < 1.0:
            again = roofline.iteration_parts(*self._mixed_shape) if roofline is not None else None
            again_s = again.seconds() if again is not None else self.perf.iteration_time_s(*self._mixed_shape)
            if parts is not None and again is not None and full_parts is not None:  # what is left, at the new rates
                parts = parts.shifted(full_parts, again, 1.0 - done)
            self._mixed = (chunks, prefill_tokens, duration_s + (1.0 - done) * (again_s - full_s), parts)
            self._mixed_progress = (now_s, done, again_s, again)
            self._wake_at(now_s + (1.0 - done) * again_s)

    def _cut_run(self) -> None:
        """End the planned decode run after the iteration in progress (at its start if not begun)."""
        self._interruptible = False
        now_s, run = self.env.now, self._run
        elapsed_s = now_s - self._run_start_s
        assert run is not None
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
        run = self._run
        if run is not None:
            self._run = None
            self._apply_decode_run(run, self._run_iterations, self._run_duration_s, now_s)
        elif self._mixed is not None:
            chunks, prefill_tokens, duration_s, parts = self._mixed
            self._mixed = None
            self._apply_mixed(chunks, prefill_tokens, duration_s, now_s, parts)
        self._plan(now_s)

    def _plan(self, now_s: float) -> None:
        """Decide the next iteration (or run of decode iterations) and schedule its end."""
        queue = self.queue
        if not queue and not self.admitted:
            self._busy = False
            if self.on_busy is not None:
                self.on_busy(False)
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
        roofline = self._roofline  # with it, the iteration's time in parts
        parts = roofline.iteration_parts(prefill_tokens, pairs, kv_read, batch, self.decode_context, len(chunks)) if roofline is not None else None
        duration_s = parts.seconds() if parts is not None else self.perf.iteration_time_s(prefill_tokens, pairs, kv_read, batch, self.decode_context, len(chunks))
        end_s = now_s + duration_s
        quiet = self.event_skipping and not preempted and not queue and not self.prefill_only and end_s < self.horizon_s and self.on_busy is None
        if quiet and self._ends_quietly(chunks):  # (on shared links new rates may re-time it: see replan)
            # Nothing can happen at its end but decoding: apply it now, plan the decode run after it.
            self._apply_mixed(chunks, prefill_tokens, duration_s, end_s, parts)
            self._plan_decode_run(end_s, False)
        else:
            self._mixed = (chunks, prefill_tokens, duration_s, parts)
            self._mixed_shape = (prefill_tokens, pairs, kv_read, batch, self.decode_context, len(chunks))
            self._mixed_progress = (now_s, 0.0, duration_s, parts)
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
        """Chunks (request, start, size) of admitted prompts in what decoding (1 + d tokens each) leaves of the budget."""
        budget = self.max_tokens - len(self.decoding) * self.spec.query_tokens
        chunks = []
        for rid, (prompt, done) in self.prefilling.items():
            if budget <= 0:
                break
            size = min(prompt - done, budget, self.max_chunk)
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
            size = min(prompt, budget, self.max_chunk)
            chunks.append((rid, 0, size))
            budget -= size
        return chunks

    # --- advancing the state -------------------------------------------------------------------
    def _apply_mixed(
        self, chunks: list[tuple[int, int, int]], prefill_tokens: int, duration_s: float, end_s: float, parts: Parts | None
    ) -> None:
        """End (at ``end_s``) of an iteration of prefill chunks plus one decode token per decoding request."""
        batch = len(self.decoding)
        gpu_s_per_token = self.gpus * duration_s / (prefill_tokens + batch)
        self.busy_s += duration_s
        if parts is not None and self.part_totals is not None:
            self.part_totals.add(parts, 1)
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

    def _apply_decode_run(self, run: DecodeRun, iterations: int, duration_s: float, now_s: float) -> None:
        """End (at ``now_s``) of ``iterations`` decode-only iterations of a fixed batch, in O(1)."""
        batch = self._run_batch
        if self.part_totals is not None:  # (a model wrapping a roofline one gives parts too)
            run.add_parts_to(self.part_totals, iterations, duration_s)
        self.step += iterations
        self.gpu_s_per_decode_token += self.gpus * duration_s / batch
        growth = iterations * self.decode_growth
        self.kv_used, self.decode_context = self.kv_used + growth, self.decode_context + growth
        self.busy_s += duration_s
        self.iterations += iterations
        self.decode_steps_done += batch * iterations
        heap = self._finish_heap
        if heap and heap[0][0] <= self.step:
            self._complete_finished(now_s)

    def _complete_finished(self, now_s: float) -> None:
        while self._finish_heap and self._finish_heap[0][0] <= self.step:
            self._complete(heapq.heappop(self._finish_heap)[1], now_s)

    def settle(self) -> None:
        """At the end of the clock: apply the decode iterations that ended by now, sync the request table."""
        run = self._run
        if run is not None:
            elapsed_s = self.env.now - self._run_start_s
            done, duration_s = run.boundary(elapsed_s)
            if duration_s > elapsed_s:
                done, duration_s = done - 1, run.elapsed_s(done - 1)
            if done > 0:
                self._apply_decode_run(run, done, duration_s, self._run_start_s + duration_s)
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
