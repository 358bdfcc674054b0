"""Calibration of the performance model: ``python -m sim.calibrate CASES.csv --name NAME [--replace]``.

Fits the roofline's efficiency factors to measured benchmark cases and writes them to a new file
``conf/calibration/NAME.yaml`` (used with ``calibration=NAME``). The shipped files are read-only to it:
an existing file (above all ``default``, which every run uses) is replaced only with ``--replace``, and
then kept beside it as ``NAME.yaml.TIMESTAMP.bak``; a name that would leave ``conf/calibration/`` is
refused. Both are checked before the fit starts. The factors are few and
physical, and the same for every platform (the cases so far cover one Blackwell and one Hopper
platform: too few to fit a set per generation without fitting single points):

* ``compute_efficiency``: achieved / peak tensor-core FLOPS of the GEMMs at the run's precision;
* ``attention_efficiency``: achieved / peak BF16 tensor-core FLOPS of the attention kernels;
* ``memory_efficiency``: achieved / peak HBM bandwidth (weight and KV-cache reads);
* ``alltoall_scaleup_efficiency``: achieved / peak bandwidth of the MoE all-to-all over the scale-up
  fabric (NVLink);
* ``collective_latency_s``: fixed cost of one collective (launch, synchronisation), on top of the
  fabric's hop and per-peer latencies (``platform.topology``);
* ``iteration_overhead_s``: fixed cost of one iteration (scheduling, kernel launches, sampling);
* ``mtp_acceptance_rate``: the chance a draft token is accepted (speculative decoding).

Three bandwidth factors are not fitted but held at :data:`FIXED`, what public measurements reach with
large messages (the small messages of decoding are priced by the latency terms): the scale-out ones
(``alltoall_scaleout_efficiency``, ``allreduce_scaleout_efficiency``), because no collective of the
calibration cases crosses the scale-out network (only their KV transfers do, a small part of a request's
time); and ``allreduce_scaleup_efficiency``, because only the low-concurrency cases all-reduce (their
attention is tensor-parallel), where its bytes are small beside the fixed costs: fitted, it traded
against ``collective_latency_s`` and ``iteration_overhead_s`` (0.16 with 1.0 ms of overhead; held at 0.8
the same cases are predicted as well).

Each case is simulated in benchmark mode (:mod:`sim.fidelity.cases`); the fit minimises the squared log
errors of throughput per GPU and interactivity over all cases with a robust (soft-L1) loss, so that a
case no physical factor explains does not drag the others (scipy.optimize.least_squares, in log
space, within physical bounds). Predictions do not use any measured value of the case itself.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import least_squares

from sim.base.config import CONFIG_DIR
from sim.base.errors import CommandParser, InputError, positive_number, run_command
from sim.fidelity.cases import REQUESTS_PER_CLIENT, Prediction, RowProblem, _predict_star, read_cases, summary
from sim.base.files import atomic_write_text
from sim.base.progress import Progress

#: Fitted factors: (name, lower bound, upper bound, start). The bounds are what kernels achieve in
#: practice: no GEMM or attention kernel sustains more than about 80 % of its tensor-core peak, nor a
#: stream of reads more than about 95 % of HBM bandwidth.
PARAMETERS = (
    ("compute_efficiency", 0.05, 0.8, 0.6),
    ("attention_efficiency", 0.05, 0.8, 0.6),
    ("memory_efficiency", 0.3, 0.95, 0.9),
    ("alltoall_scaleup_efficiency", 0.05, 0.95, 0.8),
    ("collective_latency_s", 1e-6, 2e-4, 5e-6),
    ("iteration_overhead_s", 1e-5, 2e-2, 5e-4),
    ("mtp_acceptance_rate", 0.3, 0.95, 0.7),
)
#: Held, not fitted (see the module's docstring): DeepEP's internode all-to-all and NCCL's all-reduce reach
#: about 80-90 % of a 400G NIC, and NCCL's all-reduce about as much of NVLink, with large messages
#: (UNCERTAIN: public benchmark figures).
FIXED = {"alltoall_scaleout_efficiency": 0.8, "allreduce_scaleup_efficiency": 0.8, "allreduce_scaleout_efficiency": 0.8}
EFFICIENCY_KEYS = tuple(name for name, *_ in PARAMETERS if name != "mtp_acceptance_rate") + tuple(FIXED)


def overrides_for(values: dict[str, float]) -> tuple[str, ...]:
    """Config overrides that set the factors on top of the uncalibrated defaults."""
    out = ["calibration=uncalibrated", f"calibration.mtp_acceptance_rate={float(values['mtp_acceptance_rate'])!r}"]
    values = {**FIXED, **values}
    out += [f"calibration.fallback.{key}={float(values[key])!r}" for key in EFFICIENCY_KEYS]
    return tuple(out)


def residuals(predictions: list[Prediction]) -> np.ndarray:
    """Log errors of throughput per GPU and interactivity, two per case (large for a failed case)."""
    out = []
    for p in predictions:
        if p.ok:
            out += [np.log(p.tput_per_gpu / p.case.tput_per_gpu), np.log(p.interactivity / p.case.interactivity)]
        else:
            out += [5.0, 5.0]
    return np.array(out)


def fit(cases, processes: int | None = None, max_evaluations: int = 300, log=print) -> tuple[dict[str, float], list[Prediction]]:
    """Fit the factors to ``cases``; return them and the predictions they give."""
    names = [name for name, *_ in PARAMETERS]
    lower = np.log([lo for _, lo, _, _ in PARAMETERS])
    upper = np.log([hi for _, _, hi, _ in PARAMETERS])
    start = np.log([x0 for *_, x0 in PARAMETERS])
    processes = min(processes or os.cpu_count() or 1, len(cases))
    evaluations = 0
    progress = Progress("calibrating", unit="evaluations of every case")
    with multiprocessing.get_context("spawn").Pool(processes) as pool, progress:

        def evaluate(theta: np.ndarray) -> list[Prediction]:
            values = dict(zip(names, np.exp(theta)))
            jobs = [(case, overrides_for(values), REQUESTS_PER_CLIENT) for case in cases]
            return pool.map(_predict_star, jobs, chunksize=1)

        def objective(theta: np.ndarray) -> np.ndarray:
            nonlocal evaluations
            evaluations += 1
            r = residuals(evaluate(theta))
            progress.update(evaluations)
            if evaluations % 10 == 1:
                log(f"  evaluation {evaluations}: rms log error {np.sqrt(np.mean(r**2)):.3f}")
            return r

        result = least_squares(
            objective, start, bounds=(lower, upper), loss="soft_l1", f_scale=0.1, diff_step=0.05,
            max_nfev=max_evaluations, x_scale=1.0,
        )
        # The factors as written (four significant digits), and the predictions those give: a closed loop's
        # events reorder with the last digit, so the file's header must describe the factors it holds.
        values = {name: float(f"{value:.4g}") for name, value in zip(names, np.exp(result.x))}
        return values, evaluate(np.log([values[name] for name in names]))


def write_calibration(path: Path, values: dict[str, float], command: str, fitted_on: str, stats: dict) -> None:
    values = {**FIXED, **values}
    factors = {key: float(f"{values[key]:.4g}") for key in EFFICIENCY_KEYS}
    doc = {
        "name": path.stem,
        "command": command,
        "fallback": factors,
        "generations": {},
        "mtp_acceptance_rate": float(f"{values['mtp_acceptance_rate']:.4g}"),
    }
    header = (
        f"# Efficiency factors fitted by `{command}`\n"
        f"# on {fitted_on} ({stats['n_simulated']} cases): median |error| throughput/GPU "
        f"{stats['median_abs_pct_err_tput']:.1f}%, interactivity {stats['median_abs_pct_err_interactivity']:.1f}%;\n"
        f"# max |error| {stats['max_abs_pct_err_tput']:.1f}% / {stats['max_abs_pct_err_interactivity']:.1f}%.\n"
        "# One set for every GPU generation (`fallback`): the cases cover one Blackwell and one Hopper\n"
        "# platform, too few for a set per generation; an entry under `generations` (hopper, blackwell,\n"
        "# cdna3, cdna4) would override it for that generation. AMD CDNA is not validated. Meanings:\n"
        "# sim/base/config.py EfficiencyConfig and the README's calibration section.\n"
    )
    atomic_write_text(path, header + yaml.safe_dump(doc, sort_keys=False))


def calibration_path(name: str, replace: bool) -> Path:
    """Where ``--name NAME`` writes: a new file of ``conf/calibration/``, or with ``replace`` an existing one.
    Refused: a name that is not a plain file name (a path, ``..``), an existing file without ``replace``."""
    folder = Path(CONFIG_DIR) / "calibration"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        raise InputError(f"--name {name}: a calibration is named by letters, digits, _ and - (it is conf/calibration/NAME.yaml); choose such a name")
    path = folder / f"{name}.yaml"
    if path.exists() and not replace:
        raise InputError(
            f"--name {name}: conf/calibration/{name}.yaml exists" + (" (every run uses it)" if name == "default" else "")
            + "; choose a new name, or pass --replace to replace it (the old file is kept as a .bak beside it)"
        )
    return path


def back_up(path: Path) -> Path | None:
    """Copy an existing calibration file to ``NAME.yaml.TIMESTAMP.bak`` beside it; return the copy's path."""
    if not path.exists():
        return None
    backup = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
    shutil.copy2(path, backup)
    return backup


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m sim.calibrate", description="Fit the performance model's efficiency factors.")
    parser.add_argument("cases", type=Path, help="benchmark cases (the schema of data/reference/benchmark_cases.csv)")
    parser.add_argument("--name", required=True, help="write conf/calibration/NAME.yaml, a new file (use it with calibration=NAME)")
    parser.add_argument("--replace", action="store_true", help="replace an existing NAME.yaml (default: the one every run uses), keeping it as a .bak")
    parser.add_argument("--processes", type=positive_number(int), default=None, help="parallel simulations (default: all cores)")
    parser.add_argument("--max-evaluations", type=positive_number(int), default=300, help="objective evaluations at most")
    args = parser.parse_args(argv)
    path = calibration_path(args.name, args.replace)  # before the fit: it takes minutes
    rows = read_cases(args.cases)
    for problem in (r for r in rows if isinstance(r, RowProblem)):
        print(f"skipping {problem}")
    cases = [r for r in rows if not isinstance(r, RowProblem)]
    if not cases:
        raise InputError(f"cases file {args.cases}: no row could be read as a case (see the lines above); fix them")
    start = time.perf_counter()
    print(f"fitting {len(PARAMETERS)} factors to {len(cases)} cases ...")
    values, predictions = fit(cases, args.processes, args.max_evaluations)
    stats = summary(predictions)
    command = f"python -m sim.calibrate {args.cases.as_posix()} --name {args.name}" + (" --replace" if args.replace else "")
    backup = back_up(path)
    write_calibration(path, values, command, args.cases.name, stats)
    print(f"done in {time.perf_counter() - start:.0f} s; wrote {path}" + (f" (the previous file is {backup.name})" if backup else ""))
    for name, value in values.items():
        print(f"  {name:<22} {value:.4g}")
    print(
        f"median |error| throughput/GPU {stats['median_abs_pct_err_tput']:.1f}%, interactivity "
        f"{stats['median_abs_pct_err_interactivity']:.1f}%; max {stats['max_abs_pct_err_tput']:.1f}% / "
        f"{stats['max_abs_pct_err_interactivity']:.1f}%"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
