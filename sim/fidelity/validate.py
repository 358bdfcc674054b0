"""Validation against measured benchmarks: ``python -m sim.validate CASES.csv [--json OUT.json]``.

Simulates every case of the file in benchmark mode (:mod:`sim.fidelity.cases`) with the default calibration
(or ``--calibration NAME`` from ``conf/calibration/``), prints a table of measured against predicted
throughput per GPU and interactivity with their errors, and a summary. Rows that cannot be read and
cases that cannot be simulated are listed with their reasons; the others still run. Exit status 0
when at least one case was simulated, 1 otherwise. A file that holds no cases, an unknown calibration
and an output path that cannot be written are refused before any case runs (exit status 2, one line).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from sim.base.errors import CommandParser, positive_number, run_command
from sim.fidelity.cases import Prediction, RowProblem, check_calibration, predict_all, read_cases, summary
from sim.base.files import atomic_write_text, check_output_file


def table(predictions: list[Prediction], problems: list[RowProblem]) -> str:
    """The validation table, one line per case, in the file's order."""
    head = f"{'case':<34} {'tput/GPU meas':>13} {'pred':>9} {'err':>7}   {'inter meas':>10} {'pred':>7} {'err':>7}"
    lines = [head, "-" * len(head)]
    rows = sorted([(p.case.row, p) for p in predictions] + [(r.row, r) for r in problems], key=lambda x: x[0])
    for _, item in rows:
        if isinstance(item, RowProblem):
            lines.append(f"{item.case_id:<34} not read: {item}")
        elif not item.ok:
            lines.append(f"{item.case.case_id:<34} not simulated: {item.reason}")
        else:
            c = item.case
            lines.append(
                f"{c.case_id:<34} {c.tput_per_gpu:>13,.1f} {item.tput_per_gpu:>9,.1f} {100 * item.tput_err:>+6.1f}%"
                f"   {c.interactivity:>10.1f} {item.interactivity:>7.1f} {100 * item.interactivity_err:>+6.1f}%"
            )
    return "\n".join(lines)


def to_json(predictions: list[Prediction], problems: list[RowProblem], calibration: str) -> dict:
    cases = []
    for p in predictions:
        c = p.case
        cases.append(
            {
                "case_id": c.case_id,
                "status": "ok" if p.ok else "not_simulated",
                "reason": p.reason,
                "tput_per_gpu_meas": c.tput_per_gpu,
                "tput_per_gpu_pred": p.tput_per_gpu,
                "tput_pct_err": 100 * p.tput_err if p.ok else None,
                "interactivity_meas": c.interactivity,
                "interactivity_pred": p.interactivity,
                "interactivity_pct_err": 100 * p.interactivity_err if p.ok else None,
                "ttft_s_pred": p.ttft_s,
                "concurrency": c.concurrency,
                "gpus": c.gpus,
                "wall_s": p.wall_s,
            }
        )
    empty = dict.fromkeys(cases[0] if cases else ("tput_per_gpu_meas", "tput_per_gpu_pred", "interactivity_meas", "interactivity_pred"))
    for r in problems:
        cases.append({**empty, "case_id": r.case_id, "status": "not_read", "reason": str(r), "row": r.row, "column": r.column})
    return {"calibration": calibration, "cases": cases, "summary": summary(predictions, len(predictions) + len(problems))}


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m sim.validate", description="Compare the simulator with measured benchmarks.")
    parser.add_argument("cases", type=Path, help="benchmark cases (the schema of data/reference/benchmark_cases.csv)")
    parser.add_argument("--json", type=Path, help="write the table and summary to this JSON file")
    parser.add_argument("--calibration", default="default", help="calibration in conf/calibration/ (default: default)")
    parser.add_argument("--processes", type=positive_number(int), default=None, help="parallel simulations (default: all cores)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = read_cases(args.cases)  # all three checks before any case runs
    check_calibration(args.calibration)
    if args.json:
        check_output_file(args.json, "--json")
    cases = [r for r in rows if not isinstance(r, RowProblem)]
    problems = [r for r in rows if isinstance(r, RowProblem)]
    predictions = predict_all(cases, (f"calibration={args.calibration}",), args.processes)
    print(table(predictions, problems))
    s = summary(predictions, len(rows))
    print(f"\n{s['n_simulated']} of {len(rows)} cases simulated ({len(problems)} not read) in {time.perf_counter() - start:.0f} s", end="")
    if s["n_simulated"]:
        print(
            f"; median |error| throughput/GPU {s['median_abs_pct_err_tput']:.1f}%, interactivity "
            f"{s['median_abs_pct_err_interactivity']:.1f}%; max |error| throughput/GPU {s['max_abs_pct_err_tput']:.1f}%, "
            f"interactivity {s['max_abs_pct_err_interactivity']:.1f}%"
        )
    else:
        print()
    if args.json:
        atomic_write_text(args.json, json.dumps(to_json(predictions, problems, args.calibration), indent=2, allow_nan=False) + "\n")
    return 0 if s["n_simulated"] else 1


if __name__ == "__main__":
    sys.exit(run_command(main))
