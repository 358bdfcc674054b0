"""Serving layouts: how a deployment's GPUs are carved into workers, the unit a frontier searches over.

A :class:`Layout` is aggregated (``workers`` identical workers that prefill and decode) or disaggregated
(``prefill_workers`` prefill-only workers and ``workers`` decode workers), each worker ``tp`` GPUs with
expert-parallel width ``ep`` and attention data parallelism ``dp_attn``, with or without speculative
decoding by multi-token prediction (``spec``). :meth:`Layout.config` turns it, at one concurrency, into
the configuration of a benchmark-mode run by replacing fields of a composed configuration (composing
Hydra again would take longer than simulating the point), with the engine's batch limit the
deployment's: every client can be in flight, as the public benchmark runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sim.base.config import SimConfig, WorkerConfig
from sim.run.measurement import benchmark_requests_per_client


@dataclass(frozen=True)
class Layout:
    """One deployment layout (``workers``: aggregated workers, or decode workers when disaggregated)."""

    tp: int
    ep: int = 0  # 0: ep = tp
    dp_attn: bool = False
    workers: int = 1
    prefill_workers: int = 0  # > 0: disaggregated
    prefill_tp: int = 0
    prefill_ep: int = 0
    prefill_dp_attn: bool = False
    spec: str = "none"  # none | mtp
    concurrencies: tuple[int, ...] = ()  # fixed concurrencies to measure (a benchmark's space); (): a ladder

    @property
    def disagg(self) -> bool:
        return self.prefill_workers > 0

    @property
    def gpus(self) -> int:
        return self.workers * self.tp + self.prefill_workers * self.prefill_tp

    @property
    def worker(self) -> WorkerConfig:
        return WorkerConfig(tp=self.tp, ep=self.ep, dp_attn=self.dp_attn)

    @property
    def prefill_worker(self) -> WorkerConfig:
        return WorkerConfig(tp=self.prefill_tp or self.tp, ep=self.prefill_ep, dp_attn=self.prefill_dp_attn)

    @property
    def name(self) -> str:
        """A short readable name, e.g. ``tp8 ep8 dp_attn +mtp`` or ``2P tp4 ep4 dp_attn / 1D tp32 ep32 dp_attn``."""

        def one(tp: int, ep: int, dp: bool) -> str:
            return f"tp{tp}" + (f" ep{ep}" if ep else "") + (" dp_attn" if dp else "")

        spec = " +mtp" if self.spec == "mtp" else ""
        if not self.disagg:
            return ("" if self.workers == 1 else f"{self.workers}x ") + one(self.tp, self.ep, self.dp_attn) + spec
        return (
            f"{self.prefill_workers}P {one(self.prefill_tp, self.prefill_ep, self.prefill_dp_attn)} / "
            f"{self.workers}D {one(self.tp, self.ep, self.dp_attn)}{spec}"
        )

    def key(self) -> tuple:
        """What makes two layouts the same deployment (their concurrencies aside)."""
        return (
            self.tp, self.ep or self.tp, self.dp_attn, self.workers, self.prefill_workers,
            self.prefill_tp, self.prefill_ep or self.prefill_tp, self.prefill_dp_attn, self.spec,
        )

    def batch_limit(self, concurrency: int) -> int:
        """Requests per attention rank the engine admits (``engine.max_batch_size``): enough for every client to be
        in flight on the smaller pool (as :func:`sim.fidelity.cases.case_overrides` sets it for a measured case)."""
        workers = min(self.workers, self.prefill_workers) if self.disagg else self.workers
        ranks = min(self.tp if self.dp_attn else 1, (self.prefill_tp if self.prefill_dp_attn else 1) if self.disagg else 1 << 30)
        return max(1, -(-concurrency // (workers * ranks)))

    def config(self, base: SimConfig, concurrency: int, requests_per_client: int | None = None) -> SimConfig:
        """``base`` (a benchmark-mode configuration) serving ``concurrency`` clients on this layout (each sending
        ``requests_per_client``; None: enough for a tight interval, as the benchmark cases)."""
        requests_per_client = requests_per_client or benchmark_requests_per_client(concurrency)
        batch = self.batch_limit(concurrency)
        spec = replace(base.engine.speculative, method=self.spec)
        return replace(
            base,
            worker=self.worker,
            prefill_worker=self.prefill_worker,
            fleet=replace(base.fleet, workers=self.workers, prefill_workers=self.prefill_workers),
            engine=replace(base.engine, max_batch_size=batch, max_tokens_per_iteration=self.token_budget(base, batch), speculative=spec),
            workload=replace(
                base.workload, concurrency=concurrency, num_requests=concurrency * requests_per_client, warmup_requests=concurrency
            ),
        )

    def token_budget(self, base: SimConfig, batch: int) -> int:
        """Tokens per iteration: at least 8192, and room for a full batch decoding (1 + d query tokens each
        with MTP), as :func:`sim.fidelity.cases.case_overrides` sets it."""
        query_tokens = 1 + base.engine.speculative.draft_tokens if self.spec == "mtp" else 1
        return max(8192, base.engine.max_tokens_per_iteration, batch * query_tokens)

    def scaled(self, units: int) -> "Layout":
        """``units`` copies of this layout as one fleet (the pools grow in proportion)."""
        return replace(self, workers=self.workers * units, prefill_workers=self.prefill_workers * units, concurrencies=())

    def overrides(self) -> list[str]:
        """The command-line overrides that set this layout (for ``python -m sim``)."""
        out = [f"fleet.workers={self.workers}", f"worker.tp={self.tp}", f"worker.ep={self.ep}",
               f"worker.dp_attn={str(self.dp_attn).lower()}", f"engine.speculative.method={self.spec}"]
        if self.disagg:
            out += [f"fleet.prefill_workers={self.prefill_workers}", f"prefill_worker.tp={self.prefill_tp}",
                    f"prefill_worker.ep={self.prefill_ep}", f"prefill_worker.dp_attn={str(self.prefill_dp_attn).lower()}"]
        return out


def layout_of(deployment) -> Layout:
    """The layout of a built deployment (:class:`sim.run.simulation.Deployment`): its pools' workers, the whole fleet."""
    cfg = deployment.cfg
    pools = deployment.pools
    decode, prefill = pools[-1], (pools[0] if len(pools) > 1 else None)
    return Layout(
        tp=decode.layout.tp, ep=decode.layout.ep, dp_attn=decode.layout.dp_attn, workers=decode.workers,
        prefill_workers=prefill.workers if prefill else 0, prefill_tp=prefill.layout.tp if prefill else 0,
        prefill_ep=prefill.layout.ep if prefill else 0, prefill_dp_attn=prefill.layout.dp_attn if prefill else False,
        spec=cfg.engine.speculative.method,
    )
