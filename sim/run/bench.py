"""Benchmark of the simulator's own speed: ``python -m sim.bench [--json OUT.json] [--scenario NAME]``.

Scenarios (each in a fresh child process, so peak memory is its own):

* ``large_fleet``: DeepSeek-R1 at FP4 on 16 GB200 NVL72 racks (1,152 GPUs), chat traffic (1k/1k),
  Poisson arrivals at 80 % of the fleet's estimated capacity, 1,000,000 requests: wall seconds,
  simulated requests per wall-second, events per request, peak resident memory.
* ``osl_scaling``: 50,000 requests with output length 256 against 50,000 with output length 8,192 on
  the same fleet as ``large_fleet``, both at 80 % of its capacity: the ratio of their wall times (event
  skipping keeps it near 1: the events per request do not depend on the output length), each the
  fastest of three runs.
* ``contended_fabric``: DeepSeek-R1 at FP4 on 32 HGX B200 nodes (256 GPUs): 8 prefill workers of 8 GPUs
  and 6 decode workers of 32 GPUs (4 nodes each), placed ``spread`` over four leaf groups whose uplinks
  are oversubscribed 2:1, chat traffic at 80 % of capacity. Every decode worker's all-to-all crosses the
  spine, shares leaf uplinks with the others and its NICs with the KV caches arriving from the prefill
  workers: each transfer is a flow, and every start and end re-plans the workers it touches. Requests
  per wall-second, events per request (and the fabric's transfer events and rate recomputations), peak
  memory.
* ``sweep``: a realistic 64-job Hydra sweep (4 platforms x 2 precisions x 4 loads x 2 seeds, 5,000
  requests each) through the joblib launcher on all cores: jobs per minute.

Figures are printed and, with ``--json``, written with the keys ``large_fleet_requests_per_wall_s``,
``large_fleet_events_per_request``, ``large_fleet_peak_rss_mb``, ``osl_scaling_wall_ratio``,
``sweep_jobs_per_min`` and ``cores`` (and ``engine_compiled``: whether the mypyc-compiled engine ran,
see ``sim/serving/native.py``). This is a benchmark, not a test: timings depend on the machine.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sim.base.errors import CommandParser, positive_number, run_command
from sim.base.files import atomic_write_text, check_output_file

LARGE_FLEET = (
    "platform=gb200_nvl72", "model=deepseek_r1", "precision=fp4", "workload=chat", "fleet.racks=16",
    "workload.load_fraction=0.8", "worker.tp=8",  # pinned: the figures stay comparable whatever the default layout
)
CONTENDED_FABRIC = (
    "platform=b200", "model=deepseek_r1", "precision=fp4", "workload=chat", "fleet.racks=32", "fleet.workers=6",
    "worker.tp=32", "worker.dp_attn=true", "fleet.prefill_workers=8", "prefill_worker.tp=8", "prefill_worker.dp_attn=true",
    "fleet.placement=spread", "platform.topology.scaleout.gpus_per_leaf=64", "platform.topology.scaleout.oversubscription=2",
    "workload.load_fraction=0.8",
)


def _simulate(overrides: list[str]) -> dict:
    """Run one simulation in this process; return its metrics and this process's peak RSS."""
    from sim.base.config import compose_config
    from sim.serving.native import compiled
    from sim.run.simulation import Simulation, build

    cfg = compose_config(*overrides)
    start = time.perf_counter()
    result = Simulation(build(cfg)).run()
    wall_s = time.perf_counter() - start
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {"metrics": result.metrics, "wall_s": wall_s, "peak_rss_mb": peak_rss_mb, "compiled": compiled()}


def _in_child(overrides: list[str]) -> dict:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_simulate, (overrides,))


def _speed(name: str, overrides: tuple[str, ...], requests: int, **extra: str) -> tuple[dict, dict]:
    """Run one scenario in a fresh process: its speed figures under ``name``, plus ``extra`` metrics
    (figure suffix -> metrics key, per request when the key ends in ``/request``); and the run."""
    run = _in_child([*overrides, f"workload.num_requests={requests}"])
    m = run["metrics"]
    done = m["requests_total"]  # all simulated, not only those measured
    figures = {
        f"{name}_requests": requests,
        f"{name}_wall_s": run["wall_s"],
        f"{name}_requests_per_wall_s": done / run["wall_s"],
        f"{name}_events_per_request": m["events"] / done,
        f"{name}_peak_rss_mb": run["peak_rss_mb"],
    }
    for suffix, key in extra.items():
        figures[f"{name}_{suffix}"] = m[key.removesuffix("/request")] / done if key.endswith("/request") else m[key]
    return figures, run


def large_fleet(requests: int) -> dict:
    figures, run = _speed("large_fleet", LARGE_FLEET, requests, sim_time_s="sim_time_s", tput_per_gpu_tok_s="tput_per_gpu_tok_s")
    figures["engine_compiled"] = run["compiled"]  # False: installed without a C compiler (see setup.py)
    return figures


def contended_fabric(requests: int) -> dict:
    figures, _ = _speed(
        "contended_fabric", CONTENDED_FABRIC, requests, fabric_events_per_request="fabric_events/request",
        rate_updates_per_request="fabric_updates/request", comm_time_frac="comm_time_frac", link_util_max="link_util_max",
    )
    return figures


def osl_scaling(requests: int, repeats: int = 3) -> dict:
    """Each run takes about a second, where a shared machine's noise is tens of percent: each output
    length is timed ``repeats`` times (alternating) and its fastest run counts, as timeit does."""
    walls: dict[int, float] = {}
    events: dict[int, float] = {}
    for _ in range(repeats):
        for osl in (256, 8192):
            run = _in_child([*LARGE_FLEET, f"workload.output_tokens={osl}", f"workload.num_requests={requests}"])
            walls[osl] = min(walls.get(osl, float("inf")), run["wall_s"])
            events[osl] = run["metrics"]["events"] / requests
            assert run["metrics"]["requests_total"] == requests and run["metrics"]["requests_in_flight"] == 0
    return {
        "osl_scaling_requests": requests,
        "osl_scaling_wall_s_osl256": walls[256],
        "osl_scaling_wall_s_osl8192": walls[8192],
        "osl_scaling_wall_ratio": walls[8192] / walls[256],
        "osl_scaling_events_per_request_osl256": events[256],
        "osl_scaling_events_per_request_osl8192": events[8192],
    }


def sweep(requests: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "sim", "-m", "hydra/launcher=joblib", f"hydra.launcher.n_jobs={os.cpu_count()}",
            "platform=b200,b300,gb200_nvl72,gb300_nvl72", "precision=fp8,fp4",
            "workload.load_fraction=0.4,0.6,0.8,0.95", "seed=0,1", f"workload.num_requests={requests}",
            "output.figure=false", "output.requests_csv=false", "output.print_summary=false", f"hydra.sweep.dir={tmp}",
        ]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        wall_s = time.perf_counter() - start
        statuses = [json.loads(p.read_text())["status"] for p in Path(tmp).glob("*/status.json")]
    return {
        "sweep_jobs": len(statuses),
        "sweep_jobs_ok": statuses.count("ok"),
        "sweep_wall_s": wall_s,
        "sweep_jobs_per_min": len(statuses) / wall_s * 60,
    }


SCENARIOS = {"large_fleet": large_fleet, "osl_scaling": osl_scaling, "contended_fabric": contended_fabric, "sweep": sweep}
DEFAULT_REQUESTS = {"large_fleet": 1_000_000, "osl_scaling": 50_000, "contended_fabric": 100_000, "sweep": 5_000}


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m sim.bench", description="Benchmark the simulator's speed.")
    parser.add_argument("--json", type=Path, help="write the figures to this JSON file")
    parser.add_argument(
        "--scenario", action="append", choices=list(SCENARIOS), metavar="NAME",
        help=f"run only this scenario (repeatable); one of: {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--scale", type=positive_number(float, high=100), default=1.0,
        help="multiply every scenario's request count (> 0, at most 100: 0.05 for a quick look)",
    )
    args = parser.parse_args(argv)
    if args.json:
        check_output_file(args.json, "--json")  # before minutes of benchmarking
    figures: dict = {"cores": os.cpu_count()}
    for name in args.scenario or list(SCENARIOS):
        requests = max(1, int(DEFAULT_REQUESTS[name] * args.scale))
        start = time.perf_counter()
        figures.update(SCENARIOS[name](requests))
        print(f"[{name}] done in {time.perf_counter() - start:.1f} s", flush=True)
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value:,.3f}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    if args.json:
        atomic_write_text(args.json, json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
