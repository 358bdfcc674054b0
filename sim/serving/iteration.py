"""An engine iteration's time: in parts, and for a run of decode-only iterations, in closed form.

:class:`Parts` holds an iteration's (or many iterations') seconds at each bound of the roofline
(:data:`PARTS`); they add up to its time. A run of decode-only iterations with a fixed batch is
predictable: the batch's total context grows by a fixed number of tokens per iteration, so the i-th
iteration takes ``c + max(p1 + q1·i, p2 + q2·i)`` seconds (the attention term is the larger of a compute and
a memory line, both affine in the context). The time of its first k iterations, and the iteration in
progress at a given moment, are closed-form (:class:`DecodeRun`): the engine advances any number of decode
iterations in O(1) (:mod:`sim.serving.engine`; the performance models build runs,
:meth:`sim.serving.perf.RooflinePerf.decode_run`).
"""

from __future__ import annotations

import math

#: An iteration's time in parts, in seconds (they add up to it), then the bytes one GPU moves over its
#: scale-up port and its NIC (the mean over the worker's GPUs): the fields of :class:`Parts`.
PARTS = (
    "gemm_compute_s", "gemm_memory_s", "attention_compute_s", "attention_memory_s", "activation_memory_s",
    "alltoall_link_s", "alltoall_latency_s", "allreduce_link_s", "allreduce_latency_s", "overhead_s", "scaleup_bytes", "scaleout_bytes",
)


class Parts:
    """An iteration's (or many iterations') time in :data:`PARTS`, each at its bound (plain floats: cheap to add)."""

    __slots__ = PARTS

    def __init__(self) -> None:
        self.gemm_compute_s = self.gemm_memory_s = self.attention_compute_s = self.attention_memory_s = self.activation_memory_s = 0.0
        self.alltoall_link_s = self.alltoall_latency_s = self.allreduce_link_s = self.allreduce_latency_s = self.overhead_s = 0.0
        self.scaleup_bytes = self.scaleout_bytes = 0.0

    def seconds(self) -> float:
        return (
            self.gemm_compute_s + self.gemm_memory_s + self.attention_compute_s + self.attention_memory_s + self.activation_memory_s + self.alltoall_link_s
            + self.alltoall_latency_s + self.allreduce_link_s + self.allreduce_latency_s + self.overhead_s
        )

    def add(self, other: "Parts", times: float) -> None:
        self.gemm_compute_s += times * other.gemm_compute_s
        self.gemm_memory_s += times * other.gemm_memory_s
        self.attention_compute_s += times * other.attention_compute_s
        self.attention_memory_s += times * other.attention_memory_s
        self.activation_memory_s += times * other.activation_memory_s
        self.alltoall_link_s += times * other.alltoall_link_s
        self.alltoall_latency_s += times * other.alltoall_latency_s
        self.allreduce_link_s += times * other.allreduce_link_s
        self.allreduce_latency_s += times * other.allreduce_latency_s
        self.overhead_s += times * other.overhead_s
        self.scaleup_bytes += times * other.scaleup_bytes
        self.scaleout_bytes += times * other.scaleout_bytes

    def shifted(self, old: "Parts", new: "Parts", share: float) -> "Parts":  # ``share`` of the work moved from old to new
        out = Parts()
        out.add(self, 1.0)
        out.add(old, -share)
        out.add(new, share)
        return out

    def add_gemm(self, compute_s: float, memory_s: float) -> None:  # the larger, at its bound
        if compute_s >= memory_s:
            self.gemm_compute_s += compute_s
        else:
            self.gemm_memory_s += memory_s

    def values(self) -> list[float]:
        return [getattr(self, name) for name in PARTS]


class DecodeRun:
    """Decode-only iterations i = 0, 1, ... taking ``c + max(p1 + q1·i, p2 + q2·i)`` seconds each.

    Stored as at most two pieces, split where the two lines cross: iteration i takes ``a + q·i`` before
    the crossing index and ``a2 + q2·(i - cross)`` from it on (``cross`` is None for one piece).
    ``parts``: the constant ``c`` split into :data:`PARTS` (None if the model does not say).
    """

    __slots__ = ("a", "q", "cross", "cross_s", "a2", "q2", "c", "swapped", "parts")

    def __init__(self, c: float, p1: float, q1: float, p2: float, q2: float, parts: Parts | None = None):
        self.c, self.parts = c, parts
        self.swapped = p1 < p2 or (p1 == p2 and q1 < q2)
        if self.swapped:
            p1, q1, p2, q2 = p2, q2, p1, q1  # line 1 is the larger at i = 0
        self.a, self.q = c + p1, q1
        if q2 <= q1:
            self.cross = None
        else:
            cross = math.ceil((p1 - p2) / (q2 - q1))  # first index where line 2 is at least line 1
            self.cross = cross
            self.cross_s = self.a * cross + q1 * cross * (cross - 1) / 2
            self.a2, self.q2 = c + p2 + q2 * cross, q2

    def elapsed_s(self, k: int) -> float:
        """Seconds taken by the first ``k`` iterations."""
        cross = self.cross
        if cross is None or k <= cross:
            return self.a * k + self.q * k * (k - 1) / 2
        j = k - cross
        return self.cross_s + self.a2 * j + self.q2 * j * (j - 1) / 2

    def lines_s(self, k: int, elapsed_s: float) -> tuple[float, float]:
        """Seconds the first ``k`` iterations (``elapsed_s``) spend on the max() term: on line 1, on line 2."""
        cross = self.cross
        on_first = elapsed_s - self.c * k
        on_second = 0.0
        if cross is not None and k > cross:
            on_first = self.cross_s - self.c * cross
            on_second = elapsed_s - self.cross_s - self.c * (k - cross)
        return (on_second, on_first) if self.swapped else (on_first, on_second)

    def boundary(self, elapsed_s: float) -> tuple[int, float]:
        """The first iteration boundary at or after ``elapsed_s``: the smallest k >= 1 whose first k
        iterations take at least ``elapsed_s`` seconds, and those seconds."""
        if self.cross is not None and elapsed_s > self.cross_s:
            base_k, x, a, q = self.cross, elapsed_s - self.cross_s, self.a2, self.q2
        else:
            base_k, x, a, q = 0, elapsed_s, self.a, self.q
        if q > 0:  # solve a·k + q·k(k-1)/2 = x for k
            b = a - q / 2
            root = (-b + math.sqrt(b * b + 2 * q * x)) / q
        else:
            root = x / a
        done = max(1, base_k + math.ceil(root - 1e-9))
        t = self.elapsed_s(done)
        while t < elapsed_s:  # guard against rounding in the root
            done += 1
            t = self.elapsed_s(done)
        while done > 1:
            before = self.elapsed_s(done - 1)
            if before < elapsed_s:
                break
            done, t = done - 1, before
        return done, t

    def add_parts_to(self, totals: Parts, k: int, elapsed_s: float) -> None:
        """Add the first ``k`` iterations (``elapsed_s``) to ``totals`` in parts: ``k`` times the constant's, and
        the attention's max() term as compute (line 1) and memory (line 2)."""
        if self.parts is not None:
            totals.add(self.parts, k)
            compute_s, memory_s = self.lines_s(k, elapsed_s)
            totals.attention_compute_s += compute_s
            totals.attention_memory_s += memory_s
