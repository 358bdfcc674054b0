"""A sweep's results as one tidy table: one row per job (its overrides, status, what it simulated and its
metrics), built from the job folders alone, as CSV and Parquet, and as a pandas DataFrame.

Hydra does not call a sweep's end when a job raises, and a sweep may be interrupted: so the table is
made from what each job folder holds (:mod:`sim.run.job`). A job is ``ok`` only if its ``metrics.json`` is
whole; a folder whose files are missing, empty or corrupt is reported (``unreadable`` or
``incomplete``, with the reason in ``error``) and the others are aggregated. Wall-clock times are left
out, so the same study gives the same bytes every time.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sim.base.errors import InputError
from sim.base.files import atomic_path
from sim.run.job import METRICS_FILE, STATUS_FILE, job_folders, job_overrides, read_json, sweep_jobs
from sim.run.metrics import IDENTITY_KEYS, REQUIRED_KEYS
from sim.base.progress import Progress

#: The files aggregation writes into the sweep folder.
SUMMARY = "summary"  # summary.csv and summary.parquet: one row per job
LATENCY = "latency.parquet"  # long table: job, metric, percentile, value_s
PROBLEMS = "problems.txt"  # the job folders reported, one line each
#: Metrics that change from run to run of the same job (left out of the table).
VOLATILE = ("wall_time_s",)
#: Override keys that pick a replication of a configuration, not a configuration.
REPLICATION_KEYS = ("seed", "uncertainty.sample")
#: The column naming a job's configuration: its overrides less the replication keys.
CONFIGURATION = "configuration"
#: What a row's status may be.
ROW_STATUSES = ("ok", "failed", "interrupted", "incomplete", "unreadable")


class StudyError(InputError):
    """A sweep that cannot be aggregated or reported, with what to do."""


def typed(value: str):
    """An override's value as the number, boolean or None it spells (else the string)."""
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none", "~"):
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value.strip().strip("'\"")


def configuration(overrides: list[str]) -> str:
    """The configuration a job's overrides describe: them less the replication keys, sorted, on one line."""
    return " ".join(sorted(o for o in overrides if o.partition("=")[0].lstrip("+~") not in REPLICATION_KEYS))


def job_row(job: Path, status: dict | None, why: str, overrides: list[str]) -> tuple[dict, dict | None, str]:
    """One job's row, its latency quantiles (if any), and a problem to report ("" if none), from its folder,
    its status (None: unreadable, and ``why``) and its overrides."""
    row: dict = {"job": job.name}
    row[CONFIGURATION] = configuration(overrides)
    for item in overrides:
        key, _, value = item.partition("=")
        row[key.lstrip("+~")] = typed(value)
    problem = ""
    if status is None:
        state = "incomplete" if why.endswith("missing") else "unreadable"
        error = "no status: the job was killed before it began, or is still starting" if state == "incomplete" else why
        problem = f"job {job.name}: {why}"
    else:
        state = status.get("status")
        lines = str(status.get("error") or "").strip().splitlines()
        error = lines[-1] if lines else ""
        if state == "running":
            state, error = "incomplete", "still running, or killed before it finished (status.json says running)"
        elif state not in ROW_STATUSES:
            state, error = "unreadable", f"status.json says {state!r}, not a status"
            problem = f"job {job.name}: {error}"
    latency = None
    if state == "ok":
        metrics, why = read_json(job / METRICS_FILE)
        missing = [k for k in REQUIRED_KEYS if k not in metrics] if metrics else []
        not_numbers = [k for k in REQUIRED_KEYS if metrics and k in metrics and not _number(metrics[k])]
        if metrics is None or missing or not_numbers:
            state = "unreadable"
            error = why or (f"{METRICS_FILE} lacks {', '.join(missing[:3])}" if missing else
                            f"{METRICS_FILE} holds {not_numbers[0]}={metrics[not_numbers[0]]!r}, not a number")
            problem = f"job {job.name}: says ok but {error}"
        else:
            row.update({k: v for k, v in metrics.items() if k not in VOLATILE})
            latency, _ = read_json(job / "latency_quantiles.json")
    row["status"], row["error"] = state, error
    return row, latency, problem


def _number(value) -> bool:
    """A metric's value as ``metrics.json`` writes it: a number, or null for a non-finite one."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def expected_jobs(sweep_dir: Path) -> set[tuple[str, ...]] | None:
    """The overrides of the jobs of the sweep last run in ``sweep_dir`` (its ``multirun.yaml``), None if unknown."""
    try:
        from omegaconf import OmegaConf

        return sweep_jobs(OmegaConf.load(sweep_dir / "multirun.yaml"))
    except Exception:  # no multirun.yaml (folders copied by hand), or one that cannot be read: every folder counts
        return None


def collect(sweep_dir: Path, progress: bool = True) -> tuple[list[dict], dict[str, dict], list[str]]:
    """Every job folder of the sweep last run in ``sweep_dir``: the rows, the latency quantiles by job, the
    problems found. A folder whose overrides are not among that sweep's (``multirun.yaml``), left by an
    earlier sweep in the same folder, is reported and left out."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise StudyError(f"{sweep_dir} is not a folder: give the sweep's folder (hydra.sweep.dir of the multirun)")
    jobs = job_folders(sweep_dir)
    if not jobs:
        raise StudyError(
            f"{sweep_dir} holds no job folders (numbered folders with status.json or .hydra/): give the folder "
            "of a multirun (python -m sim -m ... hydra.sweep.dir=DIR)"
        )
    expected = expected_jobs(sweep_dir)
    rows, latency, problems = [], {}, []
    with Progress("aggregating", total=len(jobs), unit="jobs", enabled=progress) as bar:
        for i, job in enumerate(jobs):
            status, why = read_json(job / STATUS_FILE)
            overrides = job_overrides(job, status)
            if expected is not None and tuple(sorted(overrides)) not in expected:
                problems.append(f"job {job.name}: its overrides ({' '.join(overrides) or 'none'}) are not among those of the "
                                "sweep in multirun.yaml (a folder of an earlier sweep in the same folder?): left out")
                continue
            row, quantiles, problem = job_row(job, status, why, overrides)
            rows.append(row)
            if quantiles:
                latency[job.name] = quantiles
            if problem:
                problems.append(problem)
            if i % 100 == 0:
                bar.update(i)
    return rows, latency, problems


def frame(rows: list[dict]):
    """The rows as a DataFrame, columns in a reader's order: job, status, error, the overrides, what
    was simulated, then the metrics (alphabetical); each column of one type."""
    import pandas as pd

    first = ["job", "status", "error", *([CONFIGURATION] if any(CONFIGURATION in r for r in rows) else [])]
    overrides = sorted({k for r in rows for k in r if "." in k or k in REPLICATION_KEYS} - set(first))
    identity = [k for k in IDENTITY_KEYS if any(k in r for r in rows) and k not in overrides]
    rest = sorted({k for r in rows for k in r} - set(first) - set(overrides) - set(identity))
    df = pd.DataFrame(rows, columns=first + overrides + identity + rest)
    for column in df.columns:
        present = [r[column] for r in rows if r.get(column) is not None]
        if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present) and df[column].dtype.kind != "i":
            df[column] = df[column].astype("Int64")  # whole numbers stay whole where some jobs lack them (1, not 1.0)
        elif df[column].dtype == object:
            values = [v for v in df[column] if v is not None and not (isinstance(v, float) and math.isnan(v))]
            if values and all(isinstance(v, bool) for v in values):
                continue
            if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                df[column] = pd.to_numeric(df[column], errors="coerce")
            elif not all(isinstance(v, str) for v in values):
                df[column] = [None if v is None else str(v) for v in df[column]]
    return df


def latency_frame(latency: dict[str, dict]):
    """The jobs' latency quantiles as a long table: job, metric, percentile, value_s."""
    import pandas as pd

    columns: dict[str, list] = {"job": [], "metric": [], "percentile": [], "value_s": []}
    for job, table in latency.items():
        percentiles = table.get("percentile", [])
        for metric in ("ttft_s", "tpot_s", "e2e_s"):
            values = table.get(metric) or []
            if values and len(values) == len(percentiles):
                columns["job"] += [job] * len(values)
                columns["metric"] += [metric] * len(values)
                columns["percentile"] += percentiles
                columns["value_s"] += values
    return pd.DataFrame(columns)


def write_frame(df, stem: Path, formats: tuple[str, ...] = ("csv", "parquet")) -> list[Path]:
    """``stem.csv`` and ``stem.parquet``, atomically (same table, same bytes)."""
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        with atomic_path(path) as tmp:
            if fmt == "csv":
                df.to_csv(tmp, index=False, lineterminator="\n")
            else:
                df.to_parquet(tmp, index=False, engine="pyarrow")
        paths.append(path)
    return paths


def load(path: str | Path):
    """A sweep's table as a pandas DataFrame: aggregated afresh from the job folders if ``path`` holds
    them, else read from its ``summary.parquet`` (or a ``.parquet``/``.csv`` file given directly)."""
    import pandas as pd

    path = Path(path)
    if path.is_file():
        return _table(path)
    if not path.is_dir():
        raise StudyError(f"{path} is not a folder: give the sweep's folder (hydra.sweep.dir of the multirun)")
    if path.is_dir() and job_folders(path):
        return frame(collect(path, progress=False)[0])
    stored = path / f"{SUMMARY}.parquet"
    if stored.is_file():
        return _table(stored)
    raise StudyError(
        f"{path} holds neither job folders nor {SUMMARY}.parquet: give a sweep's folder "
        "(python -m sim -m ... hydra.sweep.dir=DIR) or an aggregated table"
    )


def _table(path: Path):
    """A sweep's aggregated table read from ``path`` (Parquet or CSV), or a :class:`StudyError` saying what it is instead."""
    import pandas as pd

    if path.suffix not in (".parquet", ".csv"):
        raise StudyError(f"{path} is not a sweep's table: give the sweep's folder or its {SUMMARY}.parquet (or .csv)")
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as err:  # noqa: BLE001 - whatever the reader says, the file is not a table it can read
        raise StudyError(f"{path} cannot be read as a table ({type(err).__name__}); give the {SUMMARY}.parquet python -m sim.aggregate wrote") from None
    if not {"job", "status"} <= set(df.columns):
        raise StudyError(f"{path} is not a sweep's table (no job and status columns); give the {SUMMARY}.parquet python -m sim.aggregate wrote")
    return df


def load_latency(path: str | Path):
    """The latency quantiles of a sweep (``latency.parquet``, or afresh from the job folders)."""
    import pandas as pd

    path = Path(path)
    if path.is_dir() and job_folders(path):
        return latency_frame(collect(path, progress=False)[1])
    stored = path / LATENCY
    return pd.read_parquet(stored) if stored.is_file() else latency_frame({})


def ok_rows(df):
    """The rows of jobs that ended ok, with finite costs."""
    ok = df[df["status"] == "ok"] if "status" in df else df
    if "cost_usd_per_mtok" in ok:
        ok = ok[np.isfinite(ok["cost_usd_per_mtok"].astype(float))]
    return ok
