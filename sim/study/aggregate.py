"""``python -m sim.aggregate SWEEP_DIR`` (alias ``python -m sim.sweep``): a sweep's job folders as one
table (:mod:`sim.study.results`), with the figures per configuration and what drives the cost
(:mod:`sim.study.confidence`), written into the sweep's folder.

Prints one line per job and a closing count; a job folder with a missing, empty or corrupt file is
reported and skipped, the rest aggregated. Exit status: 0 when the table was written, 2 when there is
nothing to aggregate (no such folder, no job folders) or a table cannot be written (one line saying why).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sim.base.errors import CommandParser, run_command
from sim.base.files import atomic_write_text, check_output_dir
from sim.study.confidence import by_configuration, sensitivity
from sim.study.results import LATENCY, PROBLEMS, SUMMARY, StudyError, collect, frame, latency_frame, write_frame

SHOWN = ("tput_per_gpu_tok_s", "tpot_s_p50", "ttft_s_p99", "cost_usd_per_mtok", "cost_usd_per_slo_met_mtok")


def aggregate(sweep_dir: Path, progress: bool = True) -> dict:
    """Aggregate the sweep into its folder: ``summary.csv``/``.parquet`` (one row per job),
    ``configurations.csv`` (per configuration: mean and 95 % interval of the cost and energy figures),
    ``sensitivity.csv`` (which uncertain input drives the cost) and ``latency.parquet``. Returns the
    tables and the problems found."""
    sweep_dir = Path(sweep_dir)
    for name in (f"{SUMMARY}.csv", f"{SUMMARY}.parquet", "configurations.csv", "sensitivity.csv", LATENCY, PROBLEMS):
        if (sweep_dir / name).is_dir():
            raise StudyError(f"{sweep_dir / name} is a folder, where aggregation writes a table; move or rename that folder")
    if sweep_dir.is_dir():
        check_output_dir(sweep_dir, "the sweep's folder")
    rows, latency, problems = collect(sweep_dir, progress)
    df = frame(rows)
    configs = by_configuration(df)
    sens = sensitivity(df)
    lat = latency_frame(latency)
    write_frame(df, sweep_dir / SUMMARY)
    write_frame(configs, sweep_dir / "configurations", ("csv",))
    write_frame(sens, sweep_dir / "sensitivity", ("csv",))
    write_frame(lat, sweep_dir / LATENCY.removesuffix(".parquet"), ("parquet",))
    atomic_write_text(sweep_dir / PROBLEMS, "".join(f"{p}\n" for p in problems))
    return {"summary": df, "configurations": configs, "sensitivity": sens, "latency": lat, "problems": problems}


def main(argv: list[str] | None = None, prog: str = "python -m sim.aggregate") -> int:
    """The command: a refusal or a failure is one line on stderr (:func:`sim.base.errors.run_command`)."""
    return run_command(lambda args: _main(args, prog), argv)


def _main(argv: list[str] | None, prog: str) -> int:
    parser = CommandParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a Hydra multirun folder (hydra.sweep.dir)")
    parser.add_argument("--quiet", action="store_true", help="print only the closing count")
    args = parser.parse_args(argv)
    tables = aggregate(args.sweep_dir)
    df = tables["summary"]
    if not args.quiet:
        for row in df.to_dict("records"):
            figures = "  ".join(f"{k}={row[k]:.4g}" for k in SHOWN if isinstance(row.get(k), (int, float)) and row[k] == row[k])
            print(f"job {row['job']:>4} {row['status']:<11} {figures or row['error']}")
    for problem in tables["problems"]:
        print(f"skipped: {problem}", file=sys.stderr)
    counts = df["status"].value_counts().to_dict()
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    print(f"{len(df)} jobs ({summary}), {len(tables['configurations'])} configurations -> "
          f"{args.sweep_dir / 'summary.csv'}, summary.parquet, configurations.csv, sensitivity.csv")
    return 0
