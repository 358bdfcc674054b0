"""Benchmark of the simulator's own speed: ``python -m sim.bench [--json OUT.json] [--scenario NAME]``.

Scenarios (each in a fresh child process, so peak memory is its own):

* ``large_fleet``: DeepSeek-R1 at FP4 on 16 GB200 NVL72 racks (1,152 GPUs), chat traffic (1k/1k),
  Poisson arrivals at 80 % of the fleet's estimated capacity, 1,000,000 requests: wall seconds,
  simulated requests per wall-second, events per request, peak resident memory.
* ``osl_scaling``: 50,000 requests with output length 256 against 50,000 with output length 8,192 on
  the same fleet as ``large_fleet``, both at 80 % of its capacity: the ratio of their wall times (event
  skipping keeps it near 1: the events per request do not depend on the output length), each the
  fastest of three runs.
* ``sweep``: a realistic 64-job Hydra sweep (4 platforms x 2 precisions x 4 loads x 2 seeds, 5,000
  requests each) through the joblib launcher on all cores: jobs per minute.

Figures are printed and, with ``--json``, written with the keys ``large_fleet_requests_per_wall_s``,
``large_fleet_events_per_request``, ``large_fleet_peak_rss_mb``, ``osl_scaling_wall_ratio``,
``sweep_jobs_per_min`` and ``cores`` (and ``engine_compiled``: whether the mypyc-compiled engine ran,
see ``sim/native.py``). This is a benchmark, not a test: timings depend on the machine.
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

from sim.errors import CommandParser, positive_number, run_command
from sim.files import atomic_write_text, check_output_file

LARGE_FLEET = (
    "platform=gb200_nvl72", "model=deepseek_r1", "precision=fp4", "workload=chat", "fleet.racks=16",
    "workload.load_fraction=0.8", "worker.tp=8",  # pinned: the figures stay comparable whatever the default layout
)


def _simulate(overrides: list[str]) -> dict:
    """Run one simulation in this process; return its metrics and this process's peak RSS."""
    from sim.config import compose_config
    from sim.serving.native import compiled
    from sim.simulation import Simulation, build

    cfg = compose_config(*overrides)
    start = time.perf_counter()
    result = Simulation(build(cfg)).run()
    wall_s = time.perf_counter() - start
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {"metrics": result.metrics, "wall_s": wall_s, "peak_rss_mb": peak_rss_mb, "compiled": compiled()}


def _in_child(overrides: list[str]) -> dict:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_simulate, (overrides,))


def large_fleet(requests: int) -> dict:
    run = _in_child([*LARGE_FLEET, f"workload.num_requests={requests}"])
    m = run["metrics"]
    return {
        "large_fleet_requests": requests,
        "large_fleet_wall_s": run["wall_s"],
        "large_fleet_requests_per_wall_s": m["requests_total"] / run["wall_s"],  # all simulated, not only those measured
        "large_fleet_events_per_request": m["events"] / m["requests_total"],
        "large_fleet_peak_rss_mb": run["peak_rss_mb"],
        "large_fleet_sim_time_s": m["sim_time_s"],
        "large_fleet_tput_per_gpu_tok_s": m["tput_per_gpu_tok_s"],
        "engine_compiled": run["compiled"],  # False: installed without a C compiler (see setup.py)
    }


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


SCENARIOS = {"large_fleet": large_fleet, "osl_scaling": osl_scaling, "sweep": sweep}
DEFAULT_REQUESTS = {"large_fleet": 1_000_000, "osl_scaling": 50_000, "sweep": 5_000}


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
