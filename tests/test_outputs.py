"""Outputs: files are written whole or not at all, figures are byte-identical on rerun."""

from __future__ import annotations

import pytest

from sim.run import figures
from sim.base.files import atomic_path, atomic_write_text


def test_an_atomic_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_failed_write_leaves_the_previous_file_untouched(tmp_path):
    path = tmp_path / "metrics.json"
    atomic_write_text(path, "finished result")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half a res")
            raise RuntimeError("disk full")
    assert path.read_text() == "finished result" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def _draw(stem):
    with figures.style():
        fig, ax = figures.pyplot().subplots(figsize=(4, 3))
        ax.plot([1, 2, 3], [3, 1, 2], label="a line")
        ax.set(title="A figure", xlabel="x (s)", ylabel="y (tok/s)")
        ax.legend()
        return figures.save(fig, stem)


def test_figures_are_byte_identical_on_rerun_in_png_and_pdf(tmp_path):
    first, second = _draw(tmp_path / "a"), _draw(tmp_path / "b")
    assert [p.suffix for p in first] == [".png", ".pdf"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
