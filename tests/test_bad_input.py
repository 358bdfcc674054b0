"""The catalogue of bad inputs and faults: each is refused with one line that names the field or the file
and says what to do, before any simulation runs and before any output is written.

One table (:data:`CATALOGUE`), one test. Each entry is ``(kind, input, words)``: ``kind`` says how the
input is given (a configuration override, a command line, a cases file, a command's arguments, a run
through a real process), ``words`` what the message must contain (the key or file, the range, the fix).
Add an entry for every new input; a new kind of input gets a runner in :data:`RUNNERS`.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import io
import hashlib
import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import sim.run.bench
import sim.fidelity.calibrate
import sim.fidelity.validate
import sim.serving.workload
import sim.run.simulation
import sim.study.aggregate
import sim.study.report
from sim.base.bounds import no_limit_fields
from sim.run.cli import main as cli_main
from sim.base.config import CONFIG_DIR, ConfigError, SimConfig
from sim.base.errors import InputError
from sim.fidelity.cases import RowProblem, read_cases
from sim.run.guard import check_command_line
from sim.run.simulation import build, simulate
from tests.conftest import TOY, make_config

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "data" / "reference" / "benchmark_cases.csv"
APP = cli_main.__wrapped__  # the Hydra app the guard checks command lines for
#: A message says what to do: one of these verbs.
FIX = re.compile(r"\b(set|use|raise|lower|remove|add|choose|give|save|pass|shorten|write|check|correct|create|rerun|move|rename)\b|must be")
NAN, INF = "nan", "inf"


def nonfinite(key: str, value: str = NAN, *extra: str) -> tuple:
    return ("config", (*extra, f"{key}={value}"), [f"{key}={value}", "is not allowed"])


def out_of_range(key: str, value: str, *words: str, extra: tuple = ()) -> tuple:
    return ("config", (*extra, f"{key}={value}"), [key, *words])


def implausible(key: str, value: str, *words: str, extra: tuple = ()) -> tuple:
    return ("config", (*extra, f"{key}={value}"), [key, "implausible", "allow_implausible", *words])


MTP = ("engine.speculative.method=mtp",)
TCO = ("cost=tco",)
RATE = ("workload.load_fraction=null",)
CLOSED = ("workload=closed_loop",)

CATALOGUE = [
    # --- non-finite numbers: refused everywhere, naming the key (inf only where it means "no limit") ------------
    nonfinite("perf.collective_latency_s"), nonfinite("perf.iteration_overhead_s", INF), nonfinite("perf.compute_efficiency"),
    nonfinite("perf.constant_per_token_s", NAN, "perf.kind=constant"), nonfinite("perf.constant_iteration_s", INF, "perf.kind=constant"),
    nonfinite("cost.pue"), nonfinite("cost.pue", INF), nonfinite("cost.tco.usd_per_kwh", NAN, *TCO), nonfinite("cost.tco.usd_per_kwh", INF, *TCO),
    nonfinite("cost.tco.cost_of_capital", NAN, *TCO), nonfinite("cost.tco.capex_usd_per_gpu", INF, *TCO),
    nonfinite("platform.host_power_w_per_gpu"), nonfinite("platform.memory_gb", INF), nonfinite("platform.price_usd_per_gpu_hour.neocloud", "-inf"),
    nonfinite("model.total_params_b"), nonfinite("workload.rate_rps", INF, *RATE), nonfinite("workload.load_fraction"),
    nonfinite("workload.slo.ttft_s"), nonfinite("workload.slo.tpot_s", "-inf"), nonfinite("engine.activation_reserve_gb"),
    nonfinite("engine.gpu_memory_utilization", INF), nonfinite("engine.speculative.acceptance_rate", NAN, *MTP),
    nonfinite("calibration.fallback.memory_scale"), nonfinite("calibration.mtp_acceptance_rate", INF), nonfinite("max_sim_time_s"),
    nonfinite("max_sim_time_s", "-inf"), nonfinite("workload.lognormal_sigma", INF),
    # --- values out of range: the key, the allowed range, the fix --------------------------------------------------------
    out_of_range("cost.pue", "0.5", "in [1, 3]"), out_of_range("cost.tco.depreciation_years", "0", "in (0, 50]", extra=TCO),
    out_of_range("cost.tco.cost_of_capital", "-0.1", "in [0, 1]", extra=TCO), out_of_range("cost.tco.opex_fraction_per_year", "2", extra=TCO),
    out_of_range("perf.compute_efficiency", "1.5", "in (0, 1]"), out_of_range("perf.memory_efficiency", "0", "in (0, 1]"),
    out_of_range("perf.iteration_overhead_s", "-1e-3", "in [0, 1] s"), out_of_range("perf.collective_latency_s", "5", "s"),
    out_of_range("perf.constant_iteration_s", "1e-300", "in [1e-06, 3600] s", extra=("perf.kind=constant",)),
    out_of_range("perf.constant_per_token_s", "-1", extra=("perf.kind=constant",)),
    out_of_range("engine.gpu_memory_utilization", "0", "in (0, 1]"), out_of_range("engine.gpu_memory_utilization", "1.2"),
    out_of_range("engine.activation_reserve_gb", "-4", "GB"), out_of_range("engine.max_batch_size", "0", "in [1, "),
    out_of_range("engine.speculative.acceptance_rate", "1.0", "in [0, 1)", extra=MTP), out_of_range("engine.speculative.draft_layers", "0"),
    out_of_range("workload.num_requests", "0", "in [1, "), out_of_range("workload.input_tokens", "-5"), out_of_range("workload.warmup_requests", "-1"),
    out_of_range("workload.concurrency", "0", extra=CLOSED), out_of_range("workload.rate_rps", "0", "> 0", extra=RATE),
    out_of_range("workload.load_fraction", "-0.5", "in (0, 100]"), out_of_range("workload.slo.ttft_s", "0", "> 0 s"),
    out_of_range("workload.lognormal_sigma", "0"), out_of_range("worker.tp", "-1", "in [0, 4096]"), out_of_range("worker.ep", "-2"),
    out_of_range("fleet.racks", "-1", "in [1, "), out_of_range("fleet.workers", "-3"), out_of_range("fleet.max_queue_per_worker", "-1"),
    out_of_range("platform.idle_power_fraction", "1.5", "in [0, 1]"), out_of_range("seed", "-1", ">= 0"),
    out_of_range("max_sim_time_s", "0", "> 0 s"), out_of_range("platform.topology.scaleup.alltoall_efficiency", "2", "in (0, 1]"), out_of_range("calibration.fallback.compute_scale", "5", "in [0.05, 3]"),
    out_of_range("model.layers", "0", ">= 1"), out_of_range("model.kv_heads", "-8"),
    # --- implausible platforms and models: wrong units, swapped columns (overridable: allow_implausible) ----------
    implausible("platform.memory_gb", "141e9", "GB (1e9 bytes), not bytes"), implausible("platform.hbm_bw_tb_s", "4800", "TB/s, not GB/s"),
    implausible("platform.tdp_w", "0.7", "in W, not kW"), implausible("platform.allin_power_kw_per_gpu", "1730", "kW, not W"),
    implausible("platform.bf16_dense_tflops", "989e12", "[20, 20000] TFLOPS"), implausible("platform.topology.scaleup.gpu_gb_s", "3.6e12"),
    implausible("platform.topology.scaleout.nic_gbps", "400e9"), implausible("platform.capex_usd_per_gpu", "54.2"),
    implausible("platform.price_usd_per_gpu_hour.hyperscaler_owning", "2210"), implausible("platform.gpus_per_rack", "100000"),
    implausible("platform.fp8_dense_tflops", "500", "at least as fast as BF16"), implausible("platform.fp4_dense_tflops", "4000", "at least as fast as FP8"),
    implausible("platform.allin_power_kw_per_gpu", "1.0", "TDP and host share", extra=("platform=h200",)),
    implausible("model.hidden", "7"), implausible("model.vocab", "12"), implausible("model.total_params_b", "671e9"),
    implausible("model.total_params_b", "67", "the shapes give"), implausible("model.active_params_b", "700", "at most all"),
    implausible("model.top_k", "300"),
    ("config", ("model=llama3_70b", "model.kv_heads=16", "model.q_heads=8"), ["model.kv_heads=16", "must divide model.q_heads=8"]),
    ("config", ("model=llama3_70b", "model.kv_heads=3"), ["model.kv_heads=3", "must divide"]),
    ("config", ("platform.allow_implausible=[memroy_gb]",), ["allow_implausible", "memroy_gb", "use some of"]),
    # --- uncertain inputs: a misspelt field added on the command line, a key the calibration has already been read from
    ("config", ("+uncertainty.inputs.x.key=cost.pue", "+uncertainty.inputs.x.lowe=1.1"), ["uncertainty.inputs.x.lowe", "correct its spelling"]),
    ("config", ("+uncertainty.inputs.x=3",), ["uncertainty.inputs.x=3 is not an uncertain input", "+uncertainty.inputs.x.key=cost.pue"]),
    ("config", ("uncertainty=prices", "uncertainty.inputs.demand.key=calibration.fallback.memory_scale"),
     ["calibration.fallback.memory_scale", "would change nothing", "use perf.memory_efficiency"]),
    # --- sizes a run could not finish or hold: an estimate of time and memory ------------------------------------------
    ("config", ("fleet.racks=100000000",), ["fleet.racks=100000000", "in [1, 100000]"]),
    ("config", ("fleet.racks=20000",), ["1,440,000 GPUs", "360,000 workers", "GB of memory", "lower fleet.racks"]),
    ("config", ("fleet.workers=200000",), ["200,000 workers", "100,000 workers at most", "GB of memory"]),
    ("config", ("workload.num_requests=1000000000",), ["workload.num_requests=1000000000", "h and 550.1 GB of memory"]),
    ("small_machine", ("workload.num_requests=20000000",), ["workload.num_requests=20,000,000", "8 GB of memory", "min and 11.2 GB"]),
    ("config", ("workload.concurrency=1000000000", *CLOSED), ["workload.concurrency=1000000000", "in [1, 1e+07]"]),
    ("config", ("engine.speculative.draft_tokens=1000", *MTP), ["draft_tokens=1000", "in [1, 16]", "draft 1 to about 8"]),
    ("config", ("engine.max_batch_size=100000000",), ["engine.max_batch_size=100000000", "in [1, 1e+06]"]),
    ("config", ("workload.input_tokens=1000000000",), ["workload.input_tokens=1000000000"]),
    ("config", ("engine.max_tokens_per_iteration=1000", *MTP), ["max_tokens_per_iteration=1000", "256 requests x 4", "1 + engine.speculative.draft_tokens=3"]),
    ("config", ("engine.speculative.draft_tokens=16", "engine.max_tokens_per_iteration=4096", *MTP), ["256 requests x 17 token(s)", "= 4352"]),
    # --- runs that complete nothing report no figures (a fault found after the run, never "ok") ----------------------
    ("empty_run", ("max_sim_time_s=1e-9",), ["no request completed", "max_sim_time_s=1e-09", "raise it"]),
    ("empty_run", ("fleet.max_queue_per_worker=1", "workload.load_fraction=50", "max_sim_time_s=0.02"), ["dropped at full queues"]),
    # --- code and secrets from configs (the command line, before Hydra runs anything) ---------------------------------
    ("cli", ["+hydra.callbacks.x._target_=shutil.copyfile", "+hydra.callbacks.x.src=/etc/hostname", "+hydra.callbacks.x.dst={tmp}/stolen"],
     ["hydra.callbacks.x._target_", "remove it"]),
    ("cli", ["--config-dir", "{conf}", "+experiment=callback"], ["hydra.callbacks.steal", "shutil.copyfile", "remove hydra.callbacks"]),
    ("cli", ["--config-dir", "{conf}", "-m", "+experiment=target"], ["hydra.sweeper._target_=os.system", "remove it"]),
    ("cli", ["+x._target_=os.system"], ["x._target_", "remove it"]),
    ("cli", ["hydra.launcher._target_=os.system"], ["hydra.launcher._target_", "remove it"]),
    ("cli", ["workload.name=${oc.env:SECRET}"], ["workload.name", "oc.env", "write the value itself"]),
    ("cli", ["--config-dir", "{conf}", "+experiment=secret"], ["workload.name=${oc.env:SECRET}", "oc.env"]),
    ("cli", ["--config-dir", "{conf}", "-m", "+experiment=sweep_secret"], ["hydra.sweeper.params", "oc.env"]),
    ("cli", ["-m", "workload.name=${oc.env:SECRET},chat"], ["oc.env", "write the value itself"]),
    ("cli", ["hydra.job.env_copy=[SECRET]"], ["hydra.job.env_copy", "remove it"]),
    ("cli", ["--config-dir", "{conf}", "hydra/job_logging=factory"], ["hydra.job_logging.handlers.x.()", "remove it"]),
    ("cli", ["workload.name=${oc.decode:'1'}"], ["oc.decode", "write the value itself"]),
    # ... also in the config files a sweep's values select (Hydra composes each job's configuration only when it starts)
    ("cli", ["--config-dir", "{conf}", "-m", "+experiment=plain,log_factory"], ["hydra.job_logging.handlers.x.()=shutil.copyfile", "remove it"]),
    ("cli", ["--config-dir", "{conf}", "-m", "+experiment=plain,secret"], ["workload.name=${oc.env:SECRET}", "oc.env"]),
    ("cli", ["--config-dir", "{conf}", "-m", "+experiment=group_sweep"], ["uncertainty.name=${oc.env:SECRET}", "oc.env"]),
    # ... logging that writes a file, environment variables, shell commands, a pickle
    ("cli", ["--config-dir", "{conf}", "+experiment=log_file"], ["hydra.job_logging is not a logging config Hydra ships", "hydra/job_logging=default"]),
    ("cli", ["+hydra.job_logging.handlers.x.class=logging.FileHandler", "+hydra.job_logging.handlers.x.filename={tmp}/overwritten"],
     ["hydra.job_logging.handlers.x.class", "files to write", "hydra/job_logging=default"]),
    ("cli", ["+hydra.hydra_logging.root.level=DEBUG"], ["hydra.hydra_logging.root.level", "remove it"]),
    ("cli", ["hydra.job.env_set.LD_PRELOAD=/tmp/x.so"], ["hydra.job.env_set.LD_PRELOAD", "environment to set", "remove it"]),
    ("cli", ["--config-dir", "{conf}", "+experiment=env_set"], ["hydra.job.env_set sets environment variables", "remove it"]),
    ("cli", ["-m", "+hydra.launcher.setup=[touch {tmp}/pwned]", "seed=1,2"], ["hydra.launcher.setup", "remove it"]),
    ("cli", ["--config-dir", "{conf}", "-m", "+experiment=newline", "seed=1,2"], ["hydra.launcher.prefer", "line break", "remove the line break"]),
    ("cli", ["--experimental-rerun", "{file}"], ["--experimental-rerun", "pickled file can run any code", "rerun the command"]),
    # --- the command line: typos, extra keys, unknown options, bad flags, unusable output folders ---------------------
    ("cli", ["fleet.rackz=2"], ["fleet.rackz", "+fleet.rackz=2", "Key 'rackz' not in 'FleetConfig'"]),
    ("cli", ["+fleet.extra=1"], ["fleet.extra", "remove it or correct its spelling"]),
    ("cli", ["platform=tpu9"], ["platform/tpu9", "h200", "check the spelling"]),
    ("cli", ["fleet.racks=two"], ["fleet.racks=two", "could not be converted to Integer"]),
    ("cli", ["fleet.racks=1,2"], ["fleet.racks=1,2", "add --multirun"]),
    ("cli", ["--frobnicate"], ["unrecognized arguments: --frobnicate"]),
    ("cli", ["--config-dir", "{tmp}/nowhere"], ["--config-dir", "no such folder"]),
    ("cli", ["--config-dir", "{conf}", "platform=mygpu_bytes"], ["platform.memory_gb=141000000000.0", "implausible", "not bytes"]),
    ("cli", ["--config-dir", "{conf}", "platform=mygpu_gb_s"], ["platform.hbm_bw_tb_s=4800.0", "not GB/s"]),
    ("cli", ["--config-dir", "{conf}", "platform=mygpu_kw"], ["platform.tdp_w=0.7", "not kW"]),
    ("cli", ["hydra.run.dir={file}/out"], ["hydra.run.dir", "is a file, not a folder"]),
    ("cli", ["hydra.run.dir={ro}/out"], ["hydra.run.dir", "cannot write in"]),
    ("cli", ["-m", "hydra.sweep.dir={file}/sweep"], ["hydra.sweep.dir", "is a file, not a folder"]),
    ("cli", ["hydra.run.dir="], ["hydra.run.dir= is empty", "the current folder", "give a folder"]),
    ("cli", ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0", "seed=1,2"], ["hydra.launcher.n_jobs=0", "set hydra.launcher.n_jobs=2"]),
    ("cli", ["-m", "hydra.sweeper.params={seed: '1,2'}"], ["hydra.sweeper.params cannot be set on the command line", "-m seed=1,2"]),
    ("cli", ["platform=h200", "precision=fp4"], ["h200 has no FP4 tensor cores", "choose precision=fp8"]),
    ("cli", ["worker.tp=3"], ["worker.tp=3", "divide"]),
    # --- cases files: empty, header only, binary, not UTF-8, duplicate ids, missing columns ---------------------------
    ("cases", b"", ["is empty"]), ("cases", b"  \n\n", ["is empty"]), ("cases", "header", ["has a header but no cases"]),
    ("cases", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["is binary"]), ("cases", "utf16", ["UTF-16", "save it as UTF-8"]),
    ("cases", "utf16be", ["UTF-16", "save it as UTF-8"]), ("cases", "latin1", ["is not UTF-8 text", "save it as UTF-8"]),
    ("cases", "duplicate", ["case id 'ix-b200-dsr1-fp4-1k1k-mtp-c10'", "rows 2 and 3", "its own case_id"]),
    ("cases", "missing_column", ["has no column interactivity"]), ("cases", "missing_columns", ["has no column isl, osl"]),
    ("cases", "folder", ["is a folder"]), ("cases", "nowhere", ["does not exist"]),
    ("case_row", {"concurrency": "1000000000"}, ["concurrency", "beyond what a run holds", "in [1, 1e+07]"]),
    ("case_row", {"isl": "1e12"}, ["isl", "1e12 is beyond what a run holds"]),
    ("case_row", {"osl": "20000000"}, ["osl", "beyond what a run holds"]),
    ("case_row", {"decode_tp": "100000"}, ["decode_tp", "in [0, 4096]"]),
    ("case_row", {"tput_per_gpu": "nan"}, ["tput_per_gpu", "must be a positive number"]),
    # --- commands: calibration overwrite and path escape, unknown calibration, output paths, bad arguments ------------
    ("calibrate", ["--name", "default"], ["conf/calibration/default.yaml exists", "every run uses it", "--replace"]),
    ("calibrate", ["--name", "uncalibrated"], ["uncalibrated.yaml exists", "--replace"]),
    ("calibrate", ["--name", "../../x"], ["--name ../../x", "letters, digits"]),
    ("calibrate", ["--name", "/tmp/x"], ["--name /tmp/x"]), ("calibrate", ["--name", "a/b"], ["--name a/b"]),
    ("calibrate", ["--name", ".hidden"], ["--name .hidden"]), ("calibrate", [], ["the following arguments are required: --name"]),
    ("calibrate", ["--name", "new", "--max-evaluations", "-5"], ["--max-evaluations", "-5 is not allowed"]),
    ("validate", ["--calibration", "no_such_calibration"], ["--calibration no_such_calibration", "default, uncalibrated"]),
    ("validate", ["--calibration", "../default"], ["--calibration ../default", "use one of"]),
    ("validate", ["--json", "{ro}/out.json"], ["--json", "cannot write in"]),
    ("validate", ["--json", "{tmp}/missing/out.json"], ["--json", "does not exist", "create it"]),
    ("validate", ["--json", "{tmp}"], ["--json", "is a folder", "give a file name"]),
    ("validate", ["--json", "{file}/out.json"], ["--json", "is a file"]),
    ("validate", ["--processes", "0"], ["--processes", "0 is not allowed"]),
    ("bench", ["--scale", "-1"], ["--scale", "-1 is not allowed", "> 0 and at most 100"]),
    ("bench", ["--scale", "0"], ["--scale", "0 is not allowed"]), ("bench", ["--scale", "nan"], ["--scale", "nan is not allowed"]),
    ("bench", ["--scale", "1e9"], ["--scale", "at most 100"]), ("bench", ["--scale", "fast"], ["'fast' is not a number"]),
    ("bench", ["--scenario", "nope"], ["--scenario", "invalid choice: 'nope'"]), ("bench", ["--json", "{ro}/b.json"], ["--json", "cannot write in"]),
    # --- a study's commands: aggregation and report figures (one line, status 2)
    ("aggregate", ["{tmp}/in/sweep"], ["summary.csv is a folder", "move or rename that folder"]),
    ("aggregate", ["{tmp}/in/nowhere"], ["is not a folder", "give the sweep's folder"]),
    ("aggregate", ["--frobnicate", "{tmp}/in/sweep"], ["unrecognized arguments: --frobnicate", "check the command"]),
    ("report", ["{tmp}/in/sweep", "--out", "{file}"], ["--out", "is a file, not a folder", "choose another --out"]),
    ("report", ["{file}"], ["a_file is not a sweep's table", "give the sweep's folder"]),
    ("report", ["{tmp}/in/not_a_table.csv"], ["not_a_table.csv is not a sweep's table", "no job and status columns", "give the"]),
    # --- a handful through real processes: exit status 2, one line on stderr, no traceback, nothing run or written -----
    ("process", ["sim", "--config-dir", "{conf}", "+experiment=callback", "hydra.run.dir={tmp}/run"], ["hydra.callbacks.steal"]),
    ("process", ["sim", "+hydra.callbacks.x._target_=shutil.copyfile", "+hydra.callbacks.x.src={conf}/secret.txt",
                 "+hydra.callbacks.x.dst={tmp}/stolen", "hydra.run.dir={tmp}/run"], ["hydra.callbacks.x._target_"]),
    ("process", ["sim", "workload.name=${oc.env:SECRET}", "hydra.run.dir={tmp}/run"], ["oc.env"]),
    ("process", ["sim", "+fleet.extra=1", "hydra.run.dir={tmp}/run"], ["fleet.extra"]),
    ("process", ["sim", "cost.pue=nan", "hydra.run.dir={tmp}/run"], ["cost.pue=nan"]),
    ("process", ["sim", "platform=h200", "precision=fp4", "hydra.run.dir={tmp}/run"], ["no FP4 tensor cores"]),
    ("process", ["sim", "--config-dir", "{conf}", "-m", "+experiment=plain,log_factory", "hydra.sweep.dir={tmp}/run"],
     ["hydra.job_logging.handlers.x.()"]),
    ("process", ["sim.validate", "{tmp}/in/utf16.csv"], ["UTF-16"]),
    ("process", ["sim.calibrate", str(CASES), "--name", "default"], ["--replace"]),
    ("process", ["sim.bench", "--scale", "-1"], ["--scale"]),
    ("process", ["sim.aggregate", "{tmp}/in/sweep"], ["summary.csv is a folder"]),
    ("process", ["sim.report", "{tmp}/in/sweep", "--out", "{file}"], ["is a file, not a folder"]),
]


# --- fixtures: the user's files ---------------------------------------------------------------------------------------
def user_conf(folder: Path) -> Path:
    """A user's config folder with attacks in it and platforms in wrong units."""
    for name, body in {
        "experiment/callback.yaml": "hydra:\n  callbacks:\n    steal:\n      _target_: shutil.copyfile\n      src: {secret}\n      dst: {stolen}\n",
        "experiment/target.yaml": "hydra:\n  sweeper:\n    _target_: os.system\n",
        "experiment/secret.yaml": "workload:\n  name: ${{oc.env:SECRET}}\n",
        "experiment/sweep_secret.yaml": "hydra:\n  sweeper:\n    params:\n      workload.name: ${{oc.env:SECRET}},chat\n",
        "hydra/job_logging/factory.yaml": "version: 1\nhandlers:\n  x:\n    (): shutil.copyfile\n    src: {secret}\n    dst: {stolen}\n",
        "experiment/plain.yaml": "workload:\n  num_requests: 60\n",
        "experiment/log_factory.yaml": "hydra:\n  job_logging:\n    version: 1\n    handlers:\n      x:\n        (): shutil.copyfile\n"
                                       "        src: {secret}\n        dst: {stolen}\n    root:\n      handlers: [x]\n",
        "experiment/log_file.yaml": "hydra:\n  job_logging:\n    version: 1\n    handlers:\n      x:\n        class: logging.FileHandler\n"
                                    "        filename: {stolen}\n        mode: w\n",
        "uncertainty/leak.yaml": "name: ${{oc.env:SECRET}}\n",
        "experiment/group_sweep.yaml": "hydra:\n  sweeper:\n    params:\n      uncertainty: none,leak\n",
        "experiment/env_set.yaml": "hydra:\n  job:\n    env_set:\n      LD_PRELOAD: /tmp/x.so\n",
        "experiment/newline.yaml": "defaults:\n  - override /hydra/launcher: joblib\nhydra:\n  launcher:\n    prefer: \"processes\\ntouch {stolen}\"\n",
    }.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        header = "# @package _global_\n" if name.startswith("experiment") else ""
        path.write_text(header + body.format(secret=folder / "secret.txt", stolen=folder.parent / "stolen"))
    (folder / "secret.txt").write_text("the secret\n")
    h200 = Path(CONFIG_DIR, "platform", "h200.yaml").read_text()
    wrong = {"bytes": ("memory_gb: 141 ", "memory_gb: 141e9 "), "gb_s": ("hbm_bw_tb_s: 4.8", "hbm_bw_tb_s: 4800.0"), "kw": ("tdp_w: 700", "tdp_w: 0.7")}
    for suffix, (right, bad) in wrong.items():
        assert right in h200
        (folder / "platform").mkdir(exist_ok=True)
        (folder / "platform" / f"mygpu_{suffix}.yaml").write_text(h200.replace(right, bad).replace("name: h200", f"name: mygpu_{suffix}"))
    return folder


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (root ignores permissions: /proc then)."""
    if os.geteuid() == 0:
        return Path("/proc")
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def cases_file(tmp_path: Path, what) -> Path:
    path = tmp_path / "in" / "cases.csv"
    text = CASES.read_text()
    header, first, second = text.splitlines()[:3]
    contents = {
        "header": header + "\n", "utf16": codecs.BOM_UTF16_LE + text.encode("utf-16-le"), "utf16be": codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
        "latin1": (header + "\n" + first.replace("fp4", "fp4 \u00e9t\u00e9")).encode("latin-1"),
        "duplicate": "\n".join([header, second, second]) + "\n",
        "missing_column": text.replace(",interactivity,", ",interactivity_x,"),
        "missing_columns": text.replace(",isl,osl,", ",in,out,"),
    }
    if what == "folder":
        return tmp_path / "in"
    if what == "nowhere":
        return tmp_path / "in" / "nowhere.csv"
    data = contents.get(what, what) if isinstance(what, str) else what
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# --- runners: give the input, return the refusal's message ----------------------------------------------------------------
def no_simulation(monkeypatch) -> None:
    """Any simulation (a Simulation built, a case predicted, a fit, a benchmark) fails the test."""

    def simulated(*args, **kwargs):
        raise AssertionError("a simulation started")

    monkeypatch.setattr(sim.run.simulation.Simulation, "__init__", simulated)
    monkeypatch.setattr(sim.fidelity.validate, "predict_all", simulated)
    monkeypatch.setattr(sim.fidelity.calibrate, "fit", simulated)
    monkeypatch.setattr(sim.run.bench, "SCENARIOS", dict.fromkeys(sim.run.bench.SCENARIOS, simulated))


def run_config(overrides, tmp_path, monkeypatch) -> str:
    no_simulation(monkeypatch)
    with pytest.raises(ConfigError) as err:
        simulate(make_config(*TOY, *overrides))
    return str(err.value)


def run_small_machine(overrides, tmp_path, monkeypatch) -> str:
    monkeypatch.setattr(sim.serving.workload, "machine_memory_bytes", lambda: 8e9)
    return run_config(overrides, tmp_path, monkeypatch)


def run_empty(overrides, tmp_path, monkeypatch) -> str:
    with pytest.raises(ConfigError) as err:  # found only by running: refused, never reported as a result
        simulate(make_config(*TOY, *overrides))
    return str(err.value)


def run_cli(argv, tmp_path, monkeypatch) -> str:
    no_simulation(monkeypatch)
    with pytest.raises((ConfigError, InputError)) as err:
        check_command_line(argv, APP)
    return str(err.value)


def run_cases(what, tmp_path, monkeypatch) -> str:
    with pytest.raises(InputError) as err:
        read_cases(cases_file(tmp_path, what))
    return str(err.value)


def run_case_row(changes, tmp_path, monkeypatch) -> str:
    header, first = CASES.read_text().splitlines()[:2]
    row = dict(zip(header.split(","), first.split(",")))  # the first case has no quoted comma before its changes
    row.update(changes)
    path = tmp_path / "in" / "cases.csv"
    path.write_text(header + "\n" + ",".join(row[c] for c in header.split(",")) + "\n")
    (problem,) = read_cases(path)
    assert isinstance(problem, RowProblem)
    return str(problem)  # the validation table lists it; the other rows still run


def run_command(main):
    def run(argv, tmp_path, monkeypatch) -> str:
        no_simulation(monkeypatch)
        cases = [] if main is sim.run.bench.main else [str(CASES)]
        with pytest.raises(InputError) as err:
            main([*cases, *argv])
        return str(err.value)

    return run


def study_inputs(tmp_path: Path) -> None:
    """A sweep folder whose summary.csv is a folder, and a CSV that is not a sweep's table."""
    job = tmp_path / "in" / "sweep" / "0"
    job.mkdir(parents=True)
    (job / "status.json").write_text('{"status": "failed", "error": "refused", "overrides": ["seed=1"]}')
    (tmp_path / "in" / "sweep" / "summary.csv").mkdir()
    (tmp_path / "in" / "not_a_table.csv").write_text("a,b\n1,2\n")


def run_study_command(main):
    def run(argv, tmp_path, monkeypatch) -> str:
        study_inputs(tmp_path)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert main(argv) == 2
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
        return lines[0]

    return run


def run_process(argv, tmp_path, monkeypatch) -> str:
    env = dict(os.environ, SECRET="hunter2")
    env.pop("SIM_DEBUG", None)
    (tmp_path / "in" / "utf16.csv").write_bytes(codecs.BOM_UTF16_LE + CASES.read_text().encode("utf-16-le"))
    study_inputs(tmp_path)
    out = subprocess.run([sys.executable, "-m", *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert not (tmp_path / "run").exists() and "hunter2" not in out.stdout + out.stderr
    return lines[0]


RUNNERS = {
    "config": run_config, "small_machine": run_small_machine, "empty_run": run_empty, "cli": run_cli, "cases": run_cases,
    "case_row": run_case_row, "calibrate": run_command(sim.fidelity.calibrate.main), "validate": run_command(sim.fidelity.validate.main),
    "bench": run_command(sim.run.bench.main), "aggregate": run_study_command(sim.study.aggregate.main),
    "report": run_study_command(sim.study.report.main), "process": run_process,
}


def fill(value, places: dict):
    if isinstance(value, str):
        for name, place in places.items():
            value = value.replace(f"{{{name}}}", str(place))
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(fill(v, places) for v in value)
    return value


def entry_id(entry) -> str:
    kind, given, _ = entry
    text = given if isinstance(given, str) else repr(given)[:20] if isinstance(given, bytes) else " ".join(map(str, given.values() if isinstance(given, dict) else given))
    return f"{kind}:{re.sub(r'[^A-Za-z0-9_.=+:/-]+', '_', text)[:70]}"


@pytest.mark.parametrize("kind, given, words", CATALOGUE, ids=[entry_id(e) for e in CATALOGUE])
def test_bad_input_is_refused_with_one_line_naming_it_and_the_fix(kind, given, words, tmp_path, monkeypatch):
    (tmp_path / "in").mkdir()  # the inputs a runner writes: the user's files
    (tmp_path / "a_file").write_text("x")
    places = {"tmp": tmp_path, "conf": user_conf(tmp_path / "conf"), "ro": unwritable_folder(tmp_path), "file": tmp_path / "a_file"}
    calibrations = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in Path(CONFIG_DIR, "calibration").iterdir()}
    monkeypatch.chdir(tmp_path)  # a stray output would land here
    outputs = lambda: {p for p in tmp_path.rglob("*") if p.relative_to(tmp_path).parts[0] != "in"}  # noqa: E731
    before = outputs()
    message = RUNNERS[kind](fill(given, places), tmp_path, monkeypatch)
    assert "\n" not in message and len(message) < 500, message
    for word in fill(words, places):
        assert word in message, message
    assert FIX.search(message), f"no fix in: {message}"
    # nothing was run or written: no stolen file, no output, the shipped calibrations untouched
    assert outputs() == before
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in Path(CONFIG_DIR, "calibration").iterdir()} == calibrations


def test_the_catalogue_covers_every_category():
    kinds = {kind for kind, _, _ in CATALOGUE}
    assert len(CATALOGUE) >= 100 and kinds == set(RUNNERS)


def test_a_deliberate_exception_to_a_plausibility_check_is_accepted():
    """allow_implausible names the keys a user means: a future GPU with 2 TB of HBM builds."""
    cfg = make_config(*TOY, "platform.memory_gb=2000", "platform.allow_implausible=[memory_gb]")
    assert build(cfg).platform.memory_bytes == 2e12
    with pytest.raises(ConfigError, match="platform.hbm_bw_tb_s=4800.0 is implausible"):  # only the keys it names
        build(make_config(*TOY, "platform.hbm_bw_tb_s=4800", "platform.allow_implausible=[memory_gb]"))
    build(make_config(*TOY, "platform.fp8_dense_tflops=100", "platform.allow_implausible=[fp8_dense_tflops]"))  # a cross check too


def test_infinity_means_no_limit_only_where_documented():
    assert no_limit_fields(SimConfig) == ["workload.slo.ttft_s", "workload.slo.tpot_s", "max_sim_time_s"]  # the README's list
    m = simulate(make_config(*TOY, "workload.slo.ttft_s=inf", "workload.slo.tpot_s=inf", "max_sim_time_s=inf")).metrics
    assert m["requests_completed"] == 60 and m["slo_attainment"] == 1.0


def numeric_fields(schema: type, path: str = ""):
    """(key, declared bounds or None) of every number of a schema, nested schemas included."""
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            yield from numeric_fields(kind, f"{path}{f.name}.")
        elif is_number(kind):
            yield f"{path}{f.name}", f.metadata.get("bounds")


def is_number(kind) -> bool:
    """int, float, Optional of one, or a dict of them (bool is not a number here)."""
    return kind in (int, float) or any(is_number(arg) for arg in typing.get_args(kind) if arg is not str)


def test_every_number_of_the_schemas_declares_its_range():
    """A new numeric field is checked by declaring its bounds: this fails until it does."""
    fields = dict(numeric_fields(SimConfig))
    assert len(fields) > 80 and "platform.memory_gb" in fields and "platform.topology.scaleup.alltoall_efficiency" in fields
    assert [key for key, bounds in fields.items() if bounds is None] == []
