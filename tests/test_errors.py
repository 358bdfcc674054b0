"""A command's own errors are one line and a non-zero exit status; the traceback only with SIM_DEBUG=1."""

from __future__ import annotations

import pytest

from sim.base.config import ConfigError
from sim.base.errors import InputError, run_command


def failing(err):
    def main(argv):
        raise err

    return main


@pytest.mark.parametrize(
    "err, status, text",
    [
        (ConfigError("cost.pue=nan is not allowed"), 2, "error: cost.pue=nan is not allowed\n"),
        (InputError("cases file x is empty;\n give a file"), 2, "error: cases file x is empty; give a file\n"),
        (PermissionError(13, "Permission denied", "/out/metrics.json"), 2, "error: Permission denied: /out/metrics.json; check the path"),
        (KeyError("oops"), 1, "error: internal error, KeyError: 'oops' (please report it; SIM_DEBUG=1 shows where)\n"),
    ],
)
def test_errors_are_one_line_with_their_exit_status(err, status, text, capsys, monkeypatch):
    monkeypatch.delenv("SIM_DEBUG", raising=False)
    assert run_command(failing(err)) == status
    stderr = capsys.readouterr().err
    assert stderr.startswith(text) and stderr.count("\n") == 1


def test_the_debug_flag_shows_the_traceback(capsys, monkeypatch):
    monkeypatch.setenv("SIM_DEBUG", "1")
    assert run_command(failing(KeyError("oops"))) == 1
    stderr = capsys.readouterr().err
    assert stderr.startswith("Traceback") and stderr.splitlines()[-1].startswith("error: internal error")
