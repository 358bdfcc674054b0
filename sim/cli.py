"""Command line: ``python -m sim [overrides]`` runs one simulation (``-m`` for a Hydra sweep).

A thin Hydra entry point: compose the config, call :func:`sim.simulation.simulate`, write the outputs
into the job's directory and return the objective (cost per million delivered tokens). Each job writes
``status.json`` first as ``running`` and last as ``ok`` or ``failed`` with the reason, so a sweep can be
aggregated from its job folders even when some jobs fail; a failing job in a sweep does not stop the
others. A single run with a bad configuration exits with status 2 and a message saying what to fix.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sim.config import CONFIG_DIR, ConfigError, register_configs, to_sim_config
from sim.errors import one_line, report
from sim.guard import checked
from sim.outputs import summary_text, write_figure, write_metrics, write_table
from sim.simulation import simulate

log = logging.getLogger("sim")

register_configs()


def _write_status(out_dir: Path, status: str, error: str | None = None) -> None:
    (out_dir / "status.json").write_text(json.dumps({"status": status, "error": error}, indent=2) + "\n")


def fleet_text(cfg) -> str:
    """The fleet in a few words: racks, or the pools of workers with their layouts."""
    fleet, platform = cfg.fleet, cfg.platform.name

    def layout(worker) -> str:
        return f"tp={worker.tp}" + (" dp_attn" if worker.dp_attn else "")

    where = f"{fleet.racks} x {platform}" if not fleet.workers else platform
    if not fleet.prefill_workers:
        count = f"{fleet.workers} workers, " if fleet.workers else ""
        return f"{where} ({count}{layout(cfg.worker)})"
    decode = f"{fleet.workers} decode" if fleet.workers else "decode workers in the rest"
    return f"{where}: {fleet.prefill_workers} prefill ({layout(cfg.prefill_worker)}) + {decode} ({layout(cfg.worker)})"


def run_job(cfg: DictConfig, out_dir: Path) -> float:
    """Simulate one configuration and write its outputs into ``out_dir``; return $ per Mtok."""
    sim_cfg = to_sim_config(cfg)
    result = simulate(sim_cfg)
    metrics = result.metrics
    write_metrics(out_dir / "metrics.json", metrics)
    title = f"{sim_cfg.model.name} {sim_cfg.precision.name} on {fleet_text(sim_cfg)}, {sim_cfg.workload.name}"
    if sim_cfg.output.requests_csv:
        write_table(out_dir / "requests.csv", result.requests)
        write_table(out_dir / "workers.csv", result.workers)
    if sim_cfg.output.figure:
        write_figure(out_dir / "latency_cost.png", result.requests, title)
    if sim_cfg.output.print_summary:
        print(summary_text(metrics, title))
        print(f"outputs: {out_dir}")
    return float(metrics["cost_usd_per_mtok"])


@checked(config_path=CONFIG_DIR, config_name="config")  # no code, no environment, one-line errors: before Hydra runs
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, out_dir / "config_resolved.yaml", resolve=True)
    _write_status(out_dir, "running")
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        objective = run_job(cfg, out_dir)
    except ConfigError as err:
        _write_status(out_dir, "failed", f"configuration error: {err}")
        if multirun:
            log.error("job %s failed: %s", hydra_cfg.job.num, err)
            return None
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:
        _write_status(out_dir, "failed", traceback.format_exc())
        if multirun:
            log.error("job %s failed: %s", hydra_cfg.job.num, one_line(err))  # the traceback is in its status.json
            return None
        sys.exit(report(err))
    _write_status(out_dir, "ok")
    return objective
