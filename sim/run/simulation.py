"""``simulate(config) -> Result``: one fleet serving one workload, from arrivals to cost per token.

:func:`build` (``sim.run.deployment``) turns the configuration into a checked :class:`Deployment`, before
any event. :class:`Simulation` owns everything stochastic
or stateful of one run (its SimPy environment, its random streams spawned from one ``SeedSequence``,
the request table, the engines and the router), so runs never share state and the same seed gives
the same result.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from simpy.core import StopSimulation

from sim.run import breakdown
from sim.base.clock import FleetEnvironment
from sim.base.config import ConfigError, SimConfig, to_sim_config
from sim.run.deployment import Deployment, build
from sim.economics.cost import cost_usd_per_hour, request_costs_usd
from sim.economics.power import fleet_power
from sim.run.measurement import MIN_WINDOW_REQUESTS, completed_in, confidence_metrics, mser5_warmup_s
from sim.run.metrics import identity, latency_and_tokens
from sim.base.progress import Progress
from sim.network.fabric import Fabric
from sim.serving.capacity import attention_ranks
from sim.serving.engine import Engine
from sim.serving.flows import WorkerLinks, shared_workers, start_kv_transfer
from sim.serving.fleet import build_perf_model
from sim.serving.perf import RooflinePerf
from sim.serving.requests import RequestTable, Status
from sim.serving.router import Router
from sim.serving.workload import draw_requests
from sim.spec.efficiency import model_error


@dataclass
class Result:
    """What one run produced: scalar metrics and the per-request table (columns), and the configuration
    that ran (calibrated, the default layout filled in)."""

    metrics: dict[str, float]
    requests: dict[str, np.ndarray]
    workers: dict[str, np.ndarray]
    breakdown: list[dict] = field(default_factory=list)  # iteration time per part: each worker, the fleet
    cfg: SimConfig | None = None


_COMPLETED = int(Status.COMPLETED)


class Simulation:
    """One run: a SimPy environment with arrivals, routers and one engine per worker."""

    def __init__(self, deployment: Deployment):
        cfg = deployment.cfg
        self.deployment = deployment
        self.env = FleetEnvironment()
        workload_seed, acceptance_seed = np.random.SeedSequence(cfg.seed).spawn(2)
        self.stream = draw_requests(cfg.workload, workload_seed, deployment.capacity_rps)
        self.requests = RequestTable(self.stream.input_tokens, self.stream.output_tokens, self.stream.arrival_s)
        if deployment.spec.enabled:
            self.requests.spec_z = np.random.default_rng(acceptance_seed).standard_normal(self.requests.n).tolist()
        horizon_s = cfg.max_sim_time_s if cfg.max_sim_time_s is not None else float("inf")
        self.fabric = Fabric(self.env, deployment.platform.topology)
        self.links = self._shared_links()  # per worker: its flows on shared links, or None
        self.engines: list[Engine] = []
        self.routers: list[Router] = []
        for pool in deployment.pools:
            first = len(self.engines)
            engines = []
            for i in range(pool.workers):
                links = self.links[first + i]
                engine = Engine(
                    self.env, first + i, pool.layout.tp, links.perf if links is not None else pool.placed_otherwise.get(i, pool.perf),
                    cfg.engine, pool.memory.kv_capacity_tokens, pool.memory.kv_fixed_tokens, self.requests,
                    self._on_prefilled if pool.role == "prefill" else self._on_complete,
                    horizon_s=horizon_s,
                    spec=deployment.spec,
                    role=pool.role,
                    on_busy=links.on_busy if links is not None else None,
                    attention_ranks=attention_ranks(pool.layout),
                )
                if links is not None:
                    links.engine = engine
                engines.append(engine)
            self.engines += engines
            self.routers.append(
                Router(engines, cfg.fleet.router, cfg.fleet.max_queue_per_worker, self.requests, self._on_drop, first)
            )
        self.router = self.routers[0]  # where requests arrive
        self._decode_router = self.routers[-1]
        self.closed_loop = self.stream.arrival_s is None
        self._next_request = 0
        self._finished = 0  # requests completed or dropped
        self.last_arrival_s = 0.0
        self.all_finished = self.env.event()  # the run ends when it triggers (or at max_sim_time_s)
        self.arrival_events = 0
        if self.closed_loop:
            for _ in range(min(cfg.workload.concurrency, self.requests.n)):
                self._issue()
        else:
            self.env.call_at_each(self.requests.arrival_s, self._on_arrival)

    def _shared_links(self) -> list[WorkerLinks | None]:
        """The flows of the workers whose links other flows may use: each times its iterations with the
        rates the fabric gives it (its own roofline model)."""
        dep = self.deployment
        workers = [(pool, i) for pool in dep.pools for i in range(pool.workers)]

        def roofline(pool: Pool, i: int):
            build_one = lambda: build_perf_model(  # noqa: E731
                dep.platform, dep.model, dep.precision, pool.layout, dep.cfg.perf,
                dep.spec if pool.role != "prefill" else None, pool.collectives[i],
            )
            return build_one if isinstance(pool.placed_otherwise.get(i, pool.perf), RooflinePerf) else None

        gpus = [[g for w in pool.gpus for g in w] for pool in dep.pools] if len(dep.pools) > 1 else [[], []]
        return shared_workers(self.fabric, [p.collectives[i] for p, i in workers], [roofline(p, i) for p, i in workers], *gpus)

    def _on_arrival(self, rid: int) -> None:
        """Open loop: request ``rid`` arrives now (the clock calls this at each drawn arrival time)."""
        self.arrival_events += 1
        self.last_arrival_s = self.env.now
        self.router.dispatch(rid)

    def _issue(self, _event=None) -> None:
        """A closed-loop client sends its next request now."""
        if self._next_request < self.requests.n:
            rid = self._next_request
            self._next_request += 1
            self.requests.arrival_s[rid] = self.last_arrival_s = self.env.now
            self.arrival_events += 1
            self.router.dispatch(rid)

    def _on_prefilled(self, rid: int) -> None:
        """Disaggregated: a prefill worker is done with the request; its KV cache moves to a decode worker
        (unless its first token was its last)."""
        source = self.requests.worker[rid]
        self.router.completed(source)
        if self.requests.status[rid] == _COMPLETED:
            self._request_done()
            return
        engine = self._decode_router.reserve(rid)  # the decode worker is chosen now: the cache goes there
        if engine is None:
            return  # dropped (counted by the router)
        dep = self.deployment
        prefill, decode = dep.pools
        start_s = self.env.now

        def deliver() -> None:
            self.requests.kv_transfer_s[rid] = self.env.now - start_s
            engine.submit(rid, True)

        start_kv_transfer(
            self.fabric, prefill.gpus[source], decode.gpus[engine.worker_id - prefill.workers], rid,
            decode.layout.dp_attn or prefill.layout.dp_attn or dep.model.is_mla, (self.requests.input_list[rid] + 1) * dep.kv_bytes_per_token,
            (dep.cfg.perf.alltoall_scaleup_efficiency, dep.cfg.perf.alltoall_scaleout_efficiency), dep.cfg.perf.collective_latency_s, deliver,
        )

    def _on_complete(self, rid: int) -> None:
        self._decode_router.completed(self.requests.worker[rid])
        self._request_done()

    def _request_done(self) -> None:
        self._count_finished()
        if self.closed_loop:
            # The client sends its next request after every other event of this instant (other workers'
            # completions among them), so where it is routed does not depend on the order of those events.
            self.env.call_in(0.0, self._issue)

    def _on_drop(self, rid: int) -> None:
        self._count_finished()

    def _count_finished(self) -> None:
        self._finished += 1
        if self._finished == self.requests.n:
            self.all_finished.succeed()

    def finish(self) -> None:
        """Stop the clock where it is: settle the engines and freeze the request table."""
        for engine in self.engines:
            engine.settle()
        self.requests.freeze()

    def measurement_window_s(self) -> tuple[tuple[float, float] | None, str]:
        """Steady state: from the end of the warm-up to the last arrival (None: the whole run), and what the
        run should say about its window (why it is measured whole, or that no steady state was found)."""
        wl = self.deployment.cfg.workload
        if not wl.steady_state:
            return None, ""
        finish = np.sort(self.requests.finish_s[np.isfinite(self.requests.finish_s)])
        end_s = self.last_arrival_s
        whole = "measured over the whole run, fill and drain included; raise workload.num_requests"
        if wl.warmup_requests is None:  # the warm-up where MSER-5 finds the transient over
            tokens = self.requests.input_tokens + self.requests.output_tokens
            dropped = self.requests.status == Status.DROPPED
            start_s, capped = mser5_warmup_s(self.requests.arrival_s, self.requests.finish_s, tokens, end_s, dropped)
            in_window = int(completed_in(finish, (start_s, end_s)).sum())
            if in_window < MIN_WINDOW_REQUESTS:
                return None, f"too short for a steady state ({in_window} requests completed between the warm-up and the last arrival): {whole}"
            unsettled = (
                f"no steady state found in the first half of the run (the requests in the fleet or the tokens delivered "
                f"still drift: a fleet still filling, or an overloaded one that never settles): the warm-up is cut at half "
                f"the time to the last arrival, {start_s:.3g} s; raise workload.num_requests (or, if overloaded, lower "
                "workload.load_fraction)"
            )
            return (start_s, end_s), unsettled if capped else ""
        start_s = float(finish[wl.warmup_requests - 1]) if 0 < wl.warmup_requests <= finish.size else 0.0
        in_window = int(completed_in(finish, (start_s, end_s)).sum())
        if not in_window:  # e.g. no request finishes before the last arrival: nothing to measure in steady state
            return None, (
                f"no request completed in the steady-state window (between the end of the warm-up, {wl.warmup_requests} requests, at "
                f"{start_s:.3g} s, and the last arrival at {end_s:.3g} s): {whole} or lower workload.warmup_requests"
            )
        return (start_s, end_s), ""

    def _run_showing_progress(self, until) -> None:
        """Run to ``until`` in steps of about 1/200 of the expected run, reporting the requests finished
        (:mod:`sim.base.progress`); a step stops the clock between events, so the results are those of one run."""
        dep = self.deployment
        expected_s = (
            float(self.requests.arrival_s[-1]) if not self.closed_loop and self.requests.n else self.requests.n / dep.capacity_rps
        )
        step_s = max(expected_s, 1e-3) / 200
        until.callbacks.append(StopSimulation.callback)  # what run(until=until) does; the steps stop at times
        with Progress("simulating", total=self.requests.n, unit="requests") as progress:
            stop_s = self.env.now
            while not until.triggered:
                stop_s += step_s
                self.env.run(until=stop_s)
                progress.update(self._finished)
        if until.callbacks:  # triggered at a step's stop, not yet processed: end the instant as one run would
            self.env.run(until=until)

    def run(self) -> Result:
        cfg = self.deployment.cfg
        dep = self.deployment
        wall_start = time.perf_counter()
        until = self.all_finished
        if cfg.max_sim_time_s is not None:
            until = self.env.any_of([self.all_finished, self.env.timeout(cfg.max_sim_time_s)])
        if cfg.output.progress:
            self._run_showing_progress(until)
        else:
            self.env.run(until=until)
        self.finish()
        wall_time_s = time.perf_counter() - wall_start
        sim_time_s = float(self.env.now)

        window, whole_run_note = self.measurement_window_s()
        metrics = identity(cfg) | model_error(cfg)
        metrics.update(latency_and_tokens(self.requests, cfg.workload.slo, sim_time_s, dep.gpus, window))
        busy_s = np.array([e.busy_s for e in self.engines])
        engine_gpus = np.array([e.gpus for e in self.engines])
        busy_fraction = np.zeros(dep.gpus)
        if sim_time_s > 0:
            busy_fraction[: engine_gpus.sum()] = np.repeat(busy_s / sim_time_s, engine_gpus)
        power = fleet_power(dep.platform, busy_fraction, cfg.cost.pue)
        cost_h = cost_usd_per_hour(cfg.cost, dep.platform, dep.gpus, power)
        run_cost_usd = cost_h * sim_time_s / 3600
        columns = self.requests.columns()
        cost_usd = request_costs_usd(self.requests.gpu_s, run_cost_usd)
        tokens = self.requests.input_tokens + self.requests.output_tokens
        done = columns["status"] == "completed"
        cost_per_mtok = np.where(done, cost_usd / tokens * 1e6, np.nan)
        columns["cost_usd"] = cost_usd
        columns["cost_usd_per_mtok"] = cost_per_mtok
        throughput = metrics["throughput_tok_s"]
        metrics.update(
            {
                "wall_time_s": wall_time_s,
                "events": int(sum(e.events for e in self.engines) + self.arrival_events),
                "fabric_events": self.fabric.timer_events,  # transfers finishing
                "fabric_updates": self.fabric.updates,  # recomputations of the shared links' rates
                "iterations": int(sum(e.iterations for e in self.engines)),
                "workers": dep.workers,
                "prefill_workers": dep.pools[0].workers if len(dep.pools) > 1 else 0,
                "tokens_per_decode_iteration": dep.spec.mean_tokens,
                "arrival_rate_rps": self.stream.rate_rps if self.stream.rate_rps is not None else float("nan"),
                "capacity_rps_estimate": dep.capacity_rps,
                "gpu_utilization": float(busy_fraction.mean()),
                "kv_capacity_tokens_per_worker": dep.memory.kv_capacity_tokens,
                "power_kw": power.facility_kw,
                "it_power_kw": power.it_kw,
                "provisioned_power_kw": dep.platform.allin_power_kw_per_gpu * dep.gpus,
                "cost_usd_per_hour": cost_h,
                "cost_usd_per_mtok": cost_h / (throughput * 3600 / 1e6) if throughput > 0 else float("inf"),
                "cost_usd_per_mtok_p50": float(np.nanpercentile(cost_per_mtok, 50)) if done.any() else float("nan"),
                "cost_usd_per_mtok_p90": float(np.nanpercentile(cost_per_mtok, 90)) if done.any() else float("nan"),
                # per MW provisioned (the public benchmark's: the platform's all-in kW per GPU) and per MW drawn
                "tok_s_per_mw_provisioned": throughput / (dep.platform.allin_power_kw_per_gpu * dep.gpus / 1000),
                "tok_s_per_mw_drawn": throughput / (power.facility_kw / 1000) if power.facility_kw > 0 else float("nan"),
                "slo_met": bool(metrics["slo_attainment"] >= cfg.workload.slo.min_attainment),
                "cost_usd_per_slo_met_mtok": (
                    cost_h / (metrics["goodput_tok_s"] * 3600 / 1e6) if metrics["goodput_tok_s"] > 0 else float("inf")
                ),
                "steady_state": window is not None,
                "warmup_s": window[0] if window is not None else 0.0,
            }
        )
        precision = confidence_metrics(
            self.requests.finish_s, tokens, window or (0.0, sim_time_s), throughput, cost_h,
            cfg.workload.target_ci_half_width, self.requests.n, metrics["e2e_s_p50"],
        )
        precision["measurement_warning"] = "; ".join(filter(None, [whole_run_note, precision["measurement_warning"]]))
        metrics.update(precision)
        metrics.update({f"sampled_{name}": value for name, value in dep.sampled.items()})
        metrics.update(breakdown.communication_metrics(dep.pools, self.engines, self.fabric, self.requests, sim_time_s))
        roles = np.array([pool.role for pool in dep.pools for _ in range(pool.workers)])
        workers = {
            "worker": np.arange(dep.workers),
            "role": roles,
            "gpus": engine_gpus,
            "busy_s": busy_s,
            "iterations": np.array([e.iterations for e in self.engines]),
            "events": np.array([e.events for e in self.engines]),
            "prefill_tokens": np.array([e.prefill_tokens_done for e in self.engines]),
            "decode_steps": np.array([e.decode_steps_done for e in self.engines]),
            "preemptions": np.array([e.preemptions for e in self.engines]),
            **breakdown.worker_columns(self.engines, self.requests),
        }
        return Result(metrics, columns, workers, breakdown.breakdown_rows(breakdown.part_seconds(self.engines), busy_s, roles), cfg)


def simulate(cfg) -> Result:
    """Build, check and run one simulation, logging the deployment's warnings. ``cfg``: a :class:`SimConfig`
    or a composed Hydra config. A run that completed no request is refused (:func:`refuse_empty_run`): it
    has no figures to report."""
    deployment = build(to_sim_config(cfg))
    for warning in deployment.warnings:
        logging.getLogger("sim").warning(warning)
    simulation = Simulation(deployment)
    result = simulation.run()
    refuse_empty_run(result.metrics, simulation.deployment.cfg)
    return result


def refuse_empty_run(metrics: dict, cfg: SimConfig) -> None:
    """A run that completed no request has no throughput, latency or cost per token (it would report
    zero and infinity): say why, and what to change."""
    if metrics["requests_completed"] > 0:
        return
    dropped, in_flight = metrics["requests_dropped"], metrics["requests_in_flight"]
    why = [f"{dropped} were dropped at full queues (raise fleet.max_queue_per_worker={cfg.fleet.max_queue_per_worker}, 0: no limit)"] if dropped else []
    if cfg.max_sim_time_s is not None and metrics["sim_time_s"] >= cfg.max_sim_time_s:
        why.append(f"the clock stopped at max_sim_time_s={cfg.max_sim_time_s:g} with {in_flight} running (raise it, or null: no limit)")
    raise ConfigError(
        f"no request completed in {metrics['sim_time_s']:.3g} simulated seconds"
        + (": " + "; ".join(why) if why else "; raise workload.num_requests or lower workload.warmup_requests")
    )
