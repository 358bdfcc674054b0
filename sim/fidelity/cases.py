"""Measured benchmark cases, and the simulator's prediction of each in benchmark mode.

A case (one row of a file in the schema of ``data/reference/benchmark_cases.csv``) is a deployment
(platform, model, precision, aggregated or disaggregated workers with their tp, ep and dp_attn,
speculative decoding) serving a closed loop of ``concurrency`` clients with nominal lengths ``isl`` /
``osl``, and what was measured: throughput per GPU and interactivity. :func:`case_overrides` turns a
case into the overrides of ``workload=benchmark``; :func:`predict` simulates it. A row that cannot be
read (missing value, unknown platform or model, non-numeric number, a size beyond what a run holds)
becomes a :class:`RowProblem` naming the row and the column, and a case that cannot be simulated (a
layout that does not fit) a :class:`Prediction` with its reason: neither stops the other cases. A file
that cannot be a cases file at all (empty, header only, binary or not UTF-8, a missing column, two
cases with one id) is refused whole, with an :class:`sim.base.errors.InputError` saying so.
"""

from __future__ import annotations

import csv
import io
import math
import multiprocessing
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from sim.base.config import CONFIG_DIR, Bounds, ConfigError, SpeculativeConfig, WorkerConfig, WorkloadConfig
from sim.base.errors import InputError
from sim.base.files import read_text
from sim.run.measurement import BENCHMARK_REQUESTS_PER_CLIENT, benchmark_requests_per_client

#: Columns a cases file must have, and which of them are numbers.
REQUIRED_COLUMNS = (
    "case_id", "platform", "model", "precision", "isl", "osl", "concurrency", "disagg", "prefill_workers",
    "prefill_tp", "prefill_ep", "prefill_dp_attn", "decode_workers", "decode_tp", "decode_ep", "decode_dp_attn",
    "spec_decode", "tput_per_gpu", "interactivity",
)
INTEGER_COLUMNS = ("isl", "osl", "concurrency", "disagg", "decode_workers", "decode_tp", "decode_ep", "decode_dp_attn")
PREFILL_COLUMNS = ("prefill_workers", "prefill_tp", "prefill_ep", "prefill_dp_attn")  # integers when disagg = 1
MEASURED_COLUMNS = ("tput_per_gpu", "interactivity")


def _bounds(schema: type, name: str) -> Bounds:
    return next(f.metadata["bounds"] for f in fields(schema) if f.name == name)


#: Columns whose values become configuration sizes: the schema's range for each (a case of 10^9 clients
#: would be refused by the run anyway, after the file's other cases had started).
SIZE_BOUNDS = {
    "isl": _bounds(WorkloadConfig, "input_tokens"), "osl": _bounds(WorkloadConfig, "output_tokens"),
    "concurrency": Bounds(1, min(_bounds(WorkloadConfig, "concurrency").high, _bounds(WorkloadConfig, "num_requests").high / BENCHMARK_REQUESTS_PER_CLIENT)),
    "decode_tp": _bounds(WorkerConfig, "tp"), "prefill_tp": _bounds(WorkerConfig, "tp"),
}


def config_names(group: str) -> list[str]:
    """The options of a config group shipped in ``conf/`` (platform, model, precision)."""
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def check_calibration(name: str) -> None:
    """Refuse, before any case runs, a calibration that is not a file of ``conf/calibration/``."""
    if name not in config_names("calibration"):
        raise InputError(f"--calibration {name}: there is no conf/calibration/{name}.yaml; use one of {', '.join(config_names('calibration'))}")


@dataclass(frozen=True)
class BenchmarkCase:
    """One measured deployment and what it achieved."""

    case_id: str
    row: int  # line of the file (the header is line 1)
    platform: str
    model: str
    precision: str
    isl: int
    osl: int
    concurrency: int
    disagg: bool
    decode_workers: int
    decode_tp: int
    decode_ep: int
    decode_dp_attn: bool
    spec_decode: str
    tput_per_gpu: float  # measured, tokens/s per GPU (input + output, all GPUs)
    interactivity: float  # measured, tokens/s per user (1000 / TPOT ms)
    prefill_workers: int = 0
    prefill_tp: int = 0
    prefill_ep: int = 0
    prefill_dp_attn: bool = False

    @property
    def gpus(self) -> int:
        return self.decode_workers * self.decode_tp + self.prefill_workers * self.prefill_tp


@dataclass(frozen=True)
class RowProblem:
    """A row that could not be read: which row, which column, what is wrong."""

    case_id: str
    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row} ({self.case_id}), column {self.column}: {self.reason}"


def read_cases(path: str | Path) -> list[BenchmarkCase | RowProblem]:
    """Every row of a cases file, as a case or as the problem that keeps it from being one; an
    :class:`InputError` for a file that holds no cases to read (see the module's docstring)."""
    platforms, models, precisions = config_names("platform"), config_names("model"), config_names("precision")
    reader = csv.DictReader(io.StringIO(read_text(path, "cases file"), newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputError(
            f"cases file {path} has no column {', '.join(missing)}; add it to the header line (a cases file has every "
            "column of data/reference/benchmark_cases.csv, see data/reference/README.md)"
        )
    reader.fieldnames = header
    out: list[BenchmarkCase | RowProblem] = []
    seen: dict[str, int] = {}
    for row_number, row in enumerate(reader, start=2):
        if not any((v or "").strip() for k, v in row.items() if k is not None):
            continue  # a blank line
        case_id = (row.get("case_id") or "").strip() or f"row {row_number}"
        if case_id in seen:
            raise InputError(
                f"cases file {path}: case id {case_id!r} is on rows {seen[case_id]} and {row_number}; give every case its own "
                "case_id (both would count in the median errors)"
            )
        seen[case_id] = row_number
        out.append(_parse_row(row, row_number, case_id, platforms, models, precisions))
    if not out:
        raise InputError(f"cases file {path} has a header but no cases; add one row per measured case")
    return out


def _parse_row(row, row_number, case_id, platforms, models, precisions) -> BenchmarkCase | RowProblem:
    value = {k: (v or "").strip() for k, v in row.items() if k is not None}
    for column, known in (("platform", platforms), ("model", models), ("precision", precisions)):
        if value[column] not in known:
            return RowProblem(case_id, row_number, column, f"unknown {column} {value[column]!r}; known: {', '.join(known)}")
    if value["spec_decode"] not in ("mtp", "none"):
        return RowProblem(case_id, row_number, "spec_decode", f"{value['spec_decode']!r} is neither 'mtp' nor 'none'")
    numbers: dict[str, float] = {}
    if value["disagg"] not in ("0", "1"):
        return RowProblem(case_id, row_number, "disagg", f"{value['disagg']!r} is neither 0 (aggregated) nor 1 (disaggregated)")
    disagg = value["disagg"] == "1"
    for column in INTEGER_COLUMNS + (PREFILL_COLUMNS if disagg else ()) + MEASURED_COLUMNS:
        text = value[column]
        kind = "a non-negative integer" if column not in MEASURED_COLUMNS else "a positive number"
        try:
            number = float(text)
        except ValueError:
            return RowProblem(case_id, row_number, column, (f"{text!r} is not a number" if text else "no value") + f"; it must be {kind}")
        if not math.isfinite(number) or number < 0 or (column in INTEGER_COLUMNS + PREFILL_COLUMNS and number != int(number)):
            return RowProblem(case_id, row_number, column, f"{text!r} is not allowed: it must be {kind}")
        numbers[column] = number
    for column in ("concurrency", "isl", "osl", "decode_workers", "decode_tp", *MEASURED_COLUMNS):
        if not numbers[column] > 0:
            return RowProblem(case_id, row_number, column, "must be positive")
    for column, bounds in SIZE_BOUNDS.items():
        if column in numbers and not bounds.allows(numbers[column]):
            return RowProblem(case_id, row_number, column, f"{value[column]} is beyond what a run holds: it must be {bounds.describe()}")
    ints = {k: int(v) for k, v in numbers.items() if k not in MEASURED_COLUMNS}
    return BenchmarkCase(
        case_id=case_id,
        row=row_number,
        platform=value["platform"],
        model=value["model"],
        precision=value["precision"],
        isl=ints["isl"],
        osl=ints["osl"],
        concurrency=ints["concurrency"],
        disagg=disagg,
        decode_workers=ints["decode_workers"],
        decode_tp=ints["decode_tp"],
        decode_ep=ints["decode_ep"],
        decode_dp_attn=ints["decode_dp_attn"] == 1,
        spec_decode=value["spec_decode"],
        tput_per_gpu=numbers["tput_per_gpu"],
        interactivity=numbers["interactivity"],
        prefill_workers=ints.get("prefill_workers", 0),
        prefill_tp=ints.get("prefill_tp", 0),
        prefill_ep=ints.get("prefill_ep", 0),
        prefill_dp_attn=ints.get("prefill_dp_attn", 0) == 1,
    )


def serving_precision(platform: str, precision: str) -> str:
    """The precision preset a measured case ran at. FP4 weights on a GPU without FP4 tensor cores are
    served weight-only (4-bit weights read from HBM, multiplied at BF16: the ``mxfp4`` preset), as
    gpt-oss-120b runs on Hopper."""
    if precision == "fp4":
        from omegaconf import OmegaConf

        if OmegaConf.load(Path(CONFIG_DIR) / "platform" / f"{platform}.yaml").get("fp4_dense_tflops") is None:
            return "mxfp4"
    return precision


def case_overrides(case: BenchmarkCase, requests_per_client: int | None = None) -> list[str]:
    """The simulator's configuration of a case in benchmark mode (``requests_per_client``: None, enough for a tight
    interval, :func:`sim.run.measurement.benchmark_requests_per_client`)."""
    requests_per_client = requests_per_client or benchmark_requests_per_client(case.concurrency)
    # The engine's batch limit is the deployment's, not a default: every client can be in flight on the
    # workers of either pool.
    workers = min(case.decode_workers, case.prefill_workers) if case.disagg else case.decode_workers
    # The engine's limits are per attention rank (sim.serving.capacity.attention_ranks): split over the ranks of
    # the pool with the fewest.
    ranks = min(case.decode_tp if case.decode_dp_attn else 1, (case.prefill_tp if case.prefill_dp_attn else 1) if case.disagg else 1 << 30)
    batch = max(1, -(-case.concurrency // (workers * ranks)))
    # and the token budget holds the whole batch decoding: 1 + d query tokens per request with MTP
    query_tokens = 1 + (SpeculativeConfig().draft_tokens if case.spec_decode == "mtp" else 0)
    overrides = [
        f"platform={case.platform}", f"model={case.model}",
        f"precision={serving_precision(case.platform, case.precision)}", "workload=benchmark",
        f"workload.concurrency={case.concurrency}", f"workload.input_tokens={case.isl}",
        f"workload.output_tokens={case.osl}", f"workload.num_requests={case.concurrency * requests_per_client}",
        f"workload.warmup_requests={case.concurrency}",
        f"fleet.workers={case.decode_workers}", f"worker.tp={case.decode_tp}", f"worker.ep={case.decode_ep}",
        f"worker.dp_attn={str(case.decode_dp_attn).lower()}",
        f"engine.max_batch_size={batch}", f"engine.max_tokens_per_iteration={max(8192, batch * query_tokens)}",
        f"engine.speculative.method={case.spec_decode}",
        "output.figure=false", "output.requests_csv=false", "output.print_summary=false", "output.progress=false",
    ]
    if case.disagg:
        overrides += [
            f"fleet.prefill_workers={case.prefill_workers}", f"prefill_worker.tp={case.prefill_tp}",
            f"prefill_worker.ep={case.prefill_ep}", f"prefill_worker.dp_attn={str(case.prefill_dp_attn).lower()}",
        ]
    return overrides


@dataclass(frozen=True)
class Prediction:
    """The simulator's figures for one case (None, with the reason, if it could not be simulated)."""

    case: BenchmarkCase
    tput_per_gpu: float | None = None
    interactivity: float | None = None
    ttft_s: float | None = None
    wall_s: float = 0.0
    reason: str | None = None
    metrics: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def tput_err(self) -> float | None:
        """Signed relative error of the predicted throughput per GPU."""
        return self.tput_per_gpu / self.case.tput_per_gpu - 1 if self.ok else None

    @property
    def interactivity_err(self) -> float | None:
        return self.interactivity / self.case.interactivity - 1 if self.ok else None


def predict(case: BenchmarkCase, extra_overrides: tuple[str, ...] = (), requests_per_client: int | None = None) -> Prediction:
    """Simulate one case in benchmark mode; a configuration the simulator refuses gives its reason."""
    from sim.base.config import compose_config
    from sim.run.simulation import Simulation, build

    try:
        cfg = compose_config(*case_overrides(case, requests_per_client), *extra_overrides)
        result = Simulation(build(cfg)).run()
    except ConfigError as err:
        return Prediction(case, reason=str(err))
    except Exception as err:  # never let one case stop the others: report it
        return Prediction(case, reason=f"simulation failed: {type(err).__name__}: {err}")
    m = result.metrics
    if not (m["tput_per_gpu_tok_s"] > 0 and m["tpot_s_mean"] > 0):
        return Prediction(case, reason="no throughput or time per output token to compare (one-token outputs?)", metrics=m)
    return Prediction(case, m["tput_per_gpu_tok_s"], 1.0 / m["tpot_s_mean"], m["ttft_s_mean"], m["wall_time_s"], metrics=m)


def _predict_star(args) -> Prediction:
    return predict(*args)


def predict_all(
    cases: list[BenchmarkCase], extra_overrides: tuple[str, ...] = (), processes: int | None = None,
    requests_per_client: int | None = None,
) -> list[Prediction]:
    """Predict every case, in parallel over ``processes`` (default: all cores), in the cases' order."""
    from sim.base.progress import Progress

    jobs = [(case, tuple(extra_overrides), requests_per_client) for case in cases]
    processes = min(processes or os.cpu_count() or 1, len(jobs))
    if processes <= 1:
        return [_predict_star(job) for job in jobs]
    # Longest cases first, so the pool's tail is short.
    order = sorted(range(len(jobs)), key=lambda i: -cases[i].concurrency * (cases[i].isl + cases[i].osl))
    done = []
    with multiprocessing.get_context("spawn").Pool(processes) as pool, Progress("cases", len(jobs), "cases") as progress:
        for prediction in pool.imap(_predict_star, [jobs[i] for i in order], chunksize=1):
            done.append(prediction)
            progress.update(len(done))
    result: list[Prediction | None] = [None] * len(jobs)
    for i, prediction in zip(order, done):
        result[i] = prediction
    return result  # type: ignore[return-value]


def summary(predictions: list[Prediction], rows: int | None = None) -> dict:
    """Median and largest absolute % errors over the cases that could be simulated (None if none),
    with the counts: rows of the file, cases read from them, cases simulated."""
    import numpy as np

    ok = [p for p in predictions if p.ok]
    tput = np.abs([100 * p.tput_err for p in ok])
    inter = np.abs([100 * p.interactivity_err for p in ok])
    return {
        "n_rows": len(predictions) if rows is None else rows,
        "n_cases": len(predictions),
        "n_simulated": len(ok),
        "median_abs_pct_err_tput": float(np.median(tput)) if ok else None,
        "median_abs_pct_err_interactivity": float(np.median(inter)) if ok else None,
        "max_abs_pct_err_tput": float(tput.max()) if ok else None,
        "max_abs_pct_err_interactivity": float(inter.max()) if ok else None,
    }
