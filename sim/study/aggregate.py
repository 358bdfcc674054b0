"""Aggregate a Hydra multirun into one tidy table: ``python -m sim.sweep SWEEP_DIR [--csv OUT]``.

Works from the job folders alone (each job writes ``status.json`` and, if it succeeded,
``metrics.json``), so it also works when some jobs failed or the sweep was interrupted. One row per
job: its number, status, error, the overrides that made it, and its metrics.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from omegaconf import OmegaConf


def collect(sweep_dir: Path) -> list[dict]:
    """One dict per job folder of ``sweep_dir`` (sorted by job number)."""
    rows = []
    jobs = [p for p in sweep_dir.iterdir() if p.is_dir() and (p / "status.json").exists()]
    for job in sorted(jobs, key=lambda p: (len(p.name), p.name)):
        status = json.loads((job / "status.json").read_text())
        error_lines = (status.get("error") or "").strip().splitlines()
        row: dict = {"job": job.name, "status": status["status"], "error": error_lines[-1] if error_lines else ""}
        overrides = job / ".hydra" / "overrides.yaml"
        if overrides.exists():
            for item in OmegaConf.load(overrides):
                key, _, value = item.partition("=")
                row[key.lstrip("+~")] = value
        metrics = job / "metrics.json"
        if metrics.exists():
            row.update(json.loads(metrics.read_text()))
        rows.append(row)
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a Hydra multirun directory (hydra.sweep.dir)")
    parser.add_argument("--csv", type=Path, help="where to write the table (default: SWEEP_DIR/summary.csv)")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        parser.error(f"{args.sweep_dir} is not a directory")
    rows = collect(args.sweep_dir)
    if not rows:
        parser.error(f"no job folders with status.json under {args.sweep_dir}")
    out = args.csv or args.sweep_dir / "summary.csv"
    write_csv(rows, out)
    keys = ("tput_per_gpu_tok_s", "tpot_s_p50", "ttft_s_p99", "cost_usd_per_mtok")
    for row in rows:
        figures = "  ".join(f"{k}={row[k]:.4g}" for k in keys if isinstance(row.get(k), (int, float)))
        print(f"job {row['job']:>3} {row['status']:<7} {figures or row['error']}")
    print(f"{len(rows)} jobs, {sum(r['status'] == 'ok' for r in rows)} ok -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
