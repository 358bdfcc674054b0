"""Report figures of a study: drawn when the data are there, skipped with a reason otherwise, the same
bytes every time (sim/study/report.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.study.plots import pareto_front
from sim.study.report import report
from sim.study.aggregate import aggregate
from tests.conftest import run_sim

pytestmark = pytest.mark.functional
TINY = ("workload.num_requests=150", "workload.output_tokens=128", "output.figure=false", "output.print_summary=false",
        "platform=h200", "precision=fp8")


@pytest.fixture(scope="module")
def uncertain_study(tmp_path_factory) -> Path:
    """Two fleet sizes x 18 rows of the price study (3 jobs per input and one more: enough for its sensitivity)."""
    out = tmp_path_factory.mktemp("study")
    run_sim("-m", *TINY, "fleet.racks=1,2", "uncertainty=prices", "uncertainty.samples=18", "uncertainty.sample=range(0,18)",
            f"hydra.sweep.dir={out}")
    return out


def test_every_figure_is_drawn_and_redrawn_byte_identical(uncertain_study):
    tables = aggregate(uncertain_study, progress=False)
    assert len(tables["configurations"]) == 2 and len(tables["sensitivity"]) == 2 * 4  # the four inputs of the prices study
    written, skipped = report(uncertain_study)
    names = {p.name for p in written}
    for name in ("cost_per_mtok", "frontier", "tokens_per_mw", "latency_cdf", "tornado"):
        assert {f"{name}.png", f"{name}.pdf"} <= names
    assert not skipped
    first = {p: p.read_bytes() for p in written}
    again, _ = report(uncertain_study)
    assert {p: p.read_bytes() for p in again} == first


def test_a_figure_without_data_is_skipped_with_a_reason(tmp_path):
    run_sim("-m", *TINY, "seed=1,2", f"hydra.sweep.dir={tmp_path}")
    written, skipped = report(tmp_path)
    assert {p.stem for p in written} == {"cost_per_mtok", "frontier", "tokens_per_mw", "latency_cdf"}
    assert skipped == ["tornado: skipped, the sweep has no uncertain inputs sampled (uncertainty=...), or too few jobs per configuration (3 per input + 3)"]


def test_the_report_door_draws_from_an_aggregated_table_alone(uncertain_study, tmp_path):
    """A shipped example keeps only the aggregated tables: the report draws from them."""
    aggregate(uncertain_study, progress=False)
    keep = tmp_path / "aggregated"
    keep.mkdir()
    for name in ("summary.parquet", "latency.parquet"):
        (keep / name).write_bytes((uncertain_study / name).read_bytes())
    done = run_sim(str(keep), module="sim.report")
    assert "10 files" in done.stdout and (keep / "figures" / "tornado.png").exists()
    (keep / "figures" / "tornado.png").unlink()
    done = run_sim(str(keep / "summary.parquet"), module="sim.report")  # the table itself: figures beside it
    assert "10 files" in done.stdout and (keep / "figures" / "tornado.png").exists()


def test_the_pareto_front_keeps_the_points_nothing_beats():
    x, y = [1.0, 2.0, 3.0, 2.5, 0.5], [5.0, 4.0, 1.0, 0.5, 4.5]
    assert pareto_front(x, y).tolist() == [0, 1, 2]
