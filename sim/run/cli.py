"""Command line: ``python -m sim [overrides]`` runs one simulation (``-m`` for a Hydra sweep).

A thin Hydra entry point: compose the config, call :func:`sim.run.simulation.simulate`, write the outputs
into the job's directory and return the objective (cost per million delivered tokens). Each job writes
``status.json`` first as ``running`` and last as ``ok``, ``failed`` with the reason, or ``interrupted``
(:mod:`sim.run.job`), so a sweep can be aggregated from its job folders even when some jobs fail, and a
rerun resumes it; a failing job in a sweep does not stop the others, and a sweep with failed jobs
exits with status 1 once they all ran. A single run with a bad configuration exits with status 2 and a
message saying what to fix; a run stopped by SIGINT or SIGTERM exits with 128 + the signal's number.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sim.base.config import CONFIG_DIR, ConfigError, register_configs, to_sim_config
from sim.base.errors import one_line, report
from sim.base.files import atomic_write_text
from sim.run.guard import check_job, checked
from sim.run.job import Interrupted, config_digest, finished_ok, signals_interrupt, write_status
from sim.run.outputs import check_output, summary_text, write_figure, write_latency_quantiles, write_metrics, write_requests, write_table
from sim.run.simulation import simulate

log = logging.getLogger("sim")

register_configs()


def fleet_text(cfg) -> str:
    """The fleet in a few words: racks, or the pools of workers with their layouts."""
    fleet, platform = cfg.fleet, cfg.platform.name.upper().replace("_", " ")

    def layout(worker) -> str:
        return f"tp={worker.tp}" + (" dp_attn" if worker.dp_attn else "")

    where = f"{fleet.racks} x {platform}" if not fleet.workers else platform
    if not fleet.prefill_workers:
        count = f"{fleet.workers} workers, " if fleet.workers else ""
        return f"{where} ({count}{layout(cfg.worker)})"
    decode = f"{fleet.workers} decode" if fleet.workers else "decode workers in the rest"
    return f"{where}: {fleet.prefill_workers} prefill ({layout(cfg.prefill_worker)}) + {decode} ({layout(cfg.worker)})"


def run_title(cfg) -> str:
    """What a run simulated, as a reader outside the team names it: the model's published name, the precision,
    the fleet and the traffic, e.g. ``DeepSeek-R1-0528 at FP4 on 1 x GB200 NVL72 (tp=8), chat traffic``."""
    model = cfg.model.hf_id.rsplit("/", 1)[-1] or cfg.model.name
    return f"{model} at {cfg.precision.name.upper()} on {fleet_text(cfg)}, {cfg.workload.name.replace('_', ' ')} traffic"


def run_job(cfg: DictConfig, out_dir: Path, progress: bool = True) -> float:
    """Simulate one configuration and write its outputs into ``out_dir``; return $ per Mtok."""
    sim_cfg = to_sim_config(cfg)
    check_output(sim_cfg.output)
    if not progress:
        sim_cfg = replace(sim_cfg, output=replace(sim_cfg.output, progress=False))
    result = simulate(sim_cfg)  # logs what a default costs without failing (sim.serving.defaults)
    sim_cfg = result.cfg  # what ran: the default layout filled in
    metrics = result.metrics
    title = run_title(sim_cfg)
    if sim_cfg.output.requests_csv:
        write_requests(out_dir, result.requests, sim_cfg.output)
        write_table(out_dir / "workers.csv", result.workers)
        if result.breakdown:
            write_table(out_dir / "breakdown.csv", {k: np.array([row[k] for row in result.breakdown]) for k in result.breakdown[0]})
    write_latency_quantiles(out_dir / "latency_quantiles.json", result.requests, metrics)
    if sim_cfg.output.figure:
        write_figure(out_dir / "latency_cost.png", result.requests, title, metrics)
    write_metrics(out_dir / "metrics.json", metrics)
    if metrics.get("measurement_warning"):
        log.warning("%s", metrics["measurement_warning"])
    if sim_cfg.output.print_summary:
        print(summary_text(metrics, title))
        print(f"outputs: {out_dir}")
    return float(metrics["cost_usd_per_mtok"])


@checked(config_path=CONFIG_DIR, config_name="config")  # no code, no environment, one-line errors: before Hydra runs
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        check_job(cfg, hydra_cfg)  # the job's own configuration, as Hydra composed it, before anything is resolved or written
    except ConfigError as err:
        write_status(out_dir, "failed", f"configuration error: {err}", overrides=list(hydra_cfg.overrides.task))
        if multirun:
            log.error("job %s refused: %s", hydra_cfg.job.num, err)
            return None
        sys.exit(report(err))
    digest = config_digest(cfg)
    if multirun and cfg.output.resume:
        kept = finished_ok(out_dir, digest)
        if kept is not None:
            log.info("job %s: already ok in %s, kept (output.resume=false runs it again)", hydra_cfg.job.num, out_dir)
            return kept.get("cost_usd_per_mtok")
    job = {"overrides": list(hydra_cfg.overrides.task), "config_sha256": digest}
    atomic_write_text(out_dir / "config_resolved.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    write_status(out_dir, "running", **job)
    started = time.monotonic()
    try:
        with signals_interrupt():
            objective = run_job(cfg, out_dir, progress=not multirun)
    except (Interrupted, KeyboardInterrupt) as err:
        write_status(out_dir, "interrupted", str(err) or "interrupted", **job)
        raise
    except ConfigError as err:
        write_status(out_dir, "failed", f"configuration error: {err}", **job)
        if multirun:
            log.error("job %s failed: %s", hydra_cfg.job.num, err)
            return None
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:
        write_status(out_dir, "failed", traceback.format_exc(), **job)
        if multirun:
            log.error("job %s failed: %s", hydra_cfg.job.num, one_line(err))  # the traceback is in its status.json
            return None
        sys.exit(report(err))
    write_status(out_dir, "ok", None, **job, wall_time_s=round(time.monotonic() - started, 3))
    return objective


#: The launchers a sweep may use, and what each needs installed beyond the default install.
LAUNCHERS = {
    "basic": None, "joblib": None, "ray": ("ray", ".[ray]"),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", ".[slurm]"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", ".[slurm]"),
}


def check_launcher(argv: list[str]) -> None:
    """Refuse an unknown or uninstalled ``hydra/launcher=`` before Hydra starts, in one line."""
    for arg in argv:
        key, _, name = arg.partition("=")
        if key.lstrip("+~") != "hydra/launcher":
            continue
        if name not in LAUNCHERS:
            raise ConfigError(f"hydra/launcher={name} is not a launcher: use one of {', '.join(LAUNCHERS)}")
        needs = LAUNCHERS[name]
        if needs and not _installed(needs[0]):
            raise ConfigError(f"hydra/launcher={name} is not installed: pip install -e '{needs[1]}'")


def _installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def main() -> None:
    """``python -m sim``: the Hydra app; a signal ends it with one line and status 128 + its number."""
    try:
        check_launcher(sys.argv[1:])
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    try:
        hydra_main()
    except (Interrupted, KeyboardInterrupt) as err:
        signum = getattr(err, "signum", 2)
        print(f"stopped: {err or 'interrupted by SIGINT'}; jobs that finished are kept, rerun the same command "
              "to resume", file=sys.stderr)
        sys.exit(128 + signum)


main.__wrapped__ = hydra_main.__wrapped__  # type: ignore[attr-defined]  # the Hydra app the guard checks, as for any wrapper
