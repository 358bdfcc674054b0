"""One job of a sweep, and what survives it: its folder's status, a resume, a signal, the sweep's outcome.

A job folder holds ``status.json`` (``running`` while the job runs; then ``ok``, ``failed`` with the
reason, or ``interrupted`` by a signal), the overrides that made the job and a digest of its resolved
configuration. Every file is written whole or not at all (:mod:`sim.base.files`), ``status.json`` last, so a
job that says ``ok`` has all its outputs, and a job killed outright (SIGKILL, a lost node) still says
``running``. A rerun of the same sweep (same overrides, same ``hydra.sweep.dir``) resumes it: a job
whose folder already says ``ok`` for the same configuration keeps its results and returns at once;
every other job runs again (``output.resume=false`` reruns all).

:class:`SweepCallback` is the Hydra callback the project ships (``conf/config.yaml``): in the process
that launches a sweep it shows the jobs finished (a bar on a terminal, log lines elsewhere) and, once
every job has run, exits with status 1 if any job did not end ``ok``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from omegaconf import DictConfig, OmegaConf

from sim.base.files import atomic_write_text

log = logging.getLogger("sim")

STATUS_FILE = "status.json"
METRICS_FILE = "metrics.json"
#: What a job's status may say.
STATUSES = ("running", "ok", "failed", "interrupted")
#: Configuration keys that change how a job reports, not what it computes (left out of its digest).
REPORTING_KEYS = ("hydra", "output.print_summary", "output.progress", "output.resume")


class Interrupted(BaseException):
    """A signal (SIGINT, SIGTERM) stopped the job; like KeyboardInterrupt, not an error of the job."""

    def __init__(self, signum: int):
        super().__init__(signum)  # the signal alone, so the exception crosses process boundaries (joblib)
        self.signum = signum

    def __str__(self) -> str:
        return f"interrupted by {signal.Signals(self.signum).name}"


def config_digest(cfg: DictConfig) -> str:
    """SHA-256 of the resolved configuration, without the keys that only change how a job reports."""
    container = OmegaConf.to_container(cfg, resolve=True)
    for key in REPORTING_KEYS:
        node, *path = key.split(".")
        if not path:
            container.pop(node, None)
        elif isinstance(container.get(node), dict):
            container[node].pop(path[0], None)
    return hashlib.sha256(json.dumps(container, sort_keys=True, default=str).encode()).hexdigest()


def read_json(path: Path) -> tuple[dict | None, str]:
    """The JSON object in ``path``, or None and why it could not be read (missing, empty, corrupt)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, f"{path.name} is missing"
    except (OSError, UnicodeDecodeError) as err:
        return None, f"{path.name} cannot be read ({err.__class__.__name__})"
    if not text.strip():
        return None, f"{path.name} is empty"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return None, f"{path.name} is corrupt ({err.msg} at line {err.lineno})"
    if not isinstance(value, dict):
        return None, f"{path.name} does not hold an object"
    return value, ""


def write_status(job_dir: Path, status: str, error: str | None = None, **fields: Any) -> None:
    """Write the job's ``status.json`` atomically."""
    atomic_write_text(job_dir / STATUS_FILE, json.dumps({"status": status, "error": error, **fields}, indent=2) + "\n")


def finished_ok(job_dir: Path, digest: str) -> dict | None:
    """The metrics of a job that already ended ``ok`` with the configuration of ``digest`` (None if it
    did not, or if its files are not all whole)."""
    status, _ = read_json(job_dir / STATUS_FILE)
    if not status or status.get("status") != "ok" or status.get("config_sha256") != digest:
        return None
    metrics, _ = read_json(job_dir / METRICS_FILE)
    return metrics


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM (and SIGINT) raise :class:`Interrupted` in the job, so it can record
    that it was interrupted before it stops (only in the main thread, where Python handles signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def job_folders(sweep_dir: Path) -> list[Path]:
    """The job folders of a sweep (those Hydra made, or with a status), in job order."""
    try:
        entries = list(sweep_dir.iterdir())
    except OSError:
        return []
    jobs = [p for p in entries if p.is_dir() and ((p / STATUS_FILE).exists() or (p / ".hydra").is_dir())]
    return sorted(jobs, key=lambda p: (len(p.name), p.name))


def job_overrides(job: Path, status: dict | None) -> list[str]:
    """The overrides that made a job: from its status, else from Hydra's record (``.hydra/overrides.yaml``)."""
    if status and isinstance(status.get("overrides"), list):
        return [str(item) for item in status["overrides"]]
    try:  # a job that never wrote its status
        import yaml

        loaded = yaml.load((job / ".hydra" / "overrides.yaml").read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return [str(item) for item in loaded or []]
    except Exception:
        return []


def sweep_jobs(config: DictConfig) -> set[tuple[str, ...]] | None:
    """The overrides of every job (each sorted) Hydra's basic sweeper makes of a multirun's command line and
    ``hydra.sweeper.params`` (``config``: the sweep's, as in its ``multirun.yaml``), split as the sweeper
    splits them; None if it cannot tell (another sweeper, a glob)."""
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        params = [f"{k}={v}" for k, v in (OmegaConf.select(config, "hydra.sweeper.params") or {}).items()]
        parsed = OverridesParser.create().parse_overrides([*params, *(str(item) for item in config.hydra.overrides.task)])
        (jobs,) = BasicSweeper.split_arguments(parsed, None)
        return {tuple(sorted(job)) for job in jobs}
    except Exception:  # a sweeper of another kind, a glob: every job folder counts
        return None


def sweep_outcome(sweep_dir: Path, expected: set[tuple[str, ...]] | None = None) -> dict[str, int]:
    """How many job folders of the sweep say each status (``unknown``: no readable status); with ``expected``
    (:func:`sweep_jobs`), only the folders of those jobs (not those an earlier sweep left in the folder)."""
    counts: dict[str, int] = {}
    for job in job_folders(sweep_dir):
        status, _ = read_json(job / STATUS_FILE)
        if expected is not None and tuple(sorted(job_overrides(job, status))) not in expected:
            continue
        state = status.get("status") if status and status.get("status") in STATUSES else "unknown"
        counts[state] = counts.get(state, 0) + 1
    return counts


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover  (Hydra 1.3 ships it)
    Callback = object  # type: ignore[misc,assignment]


class SweepCallback(Callback):
    """Progress of a sweep in the process that launches it, and its exit status once all jobs ran."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __getstate__(self) -> dict:  # launchers send the callbacks to the jobs' processes: not the watcher
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        self._thread = threading.Thread(target=self._watch, args=(sweep_dir, sweep_jobs(config)), daemon=True)
        self._thread.start()

    def _watch(self, sweep_dir: Path, expected: set[tuple[str, ...]] | None) -> None:
        """Count the jobs finished, once a second: a folder whose job finished is not read again (a sweep of
        10,000 jobs would otherwise read 10,000 statuses a second beside its jobs)."""
        from sim.base.progress import Progress

        finished: set[str] = set()
        with Progress("jobs", total=len(expected) if expected else None, unit="jobs", delay_s=2.0, every_s=30.0) as progress:
            while not self._stop.wait(1.0):
                for job in job_folders(sweep_dir):
                    if job.name in finished:
                        continue
                    status, _ = read_json(job / STATUS_FILE)
                    final = status is not None and status.get("status") in ("ok", "failed", "interrupted")
                    if final and (expected is None or tuple(sorted(job_overrides(job, status))) in expected):
                        finished.add(job.name)
                progress.update(len(finished))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        sweep_dir = Path(str(config.hydra.sweep.dir))
        counts = sweep_outcome(sweep_dir, sweep_jobs(config))
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        not_ok = sum(n for state, n in counts.items() if state != "ok")
        log.info("sweep %s: %s; aggregate with: python -m sim.aggregate %s", sweep_dir, summary, sweep_dir)
        if not_ok:
            log.error("%d of %d jobs did not end ok (their status.json says why); rerun the same command to "
                      "run them again (jobs already ok are kept)", not_ok, sum(counts.values()))
            raise SystemExit(1)
