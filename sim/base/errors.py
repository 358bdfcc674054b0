"""How a command reports an error of its own: one line on stderr and a non-zero exit; the traceback only
with ``SIM_DEBUG=1``.

The tools' own errors say what is wrong and how to fix it, naming the key or the file: a configuration that
cannot be simulated (:class:`sim.base.config.ConfigError`), a file, path or argument a command cannot use
(:class:`InputError`), a file the system refuses to read or write (``OSError``). A command's ``main`` runs
inside :func:`run_command`, which prints ``error: MESSAGE`` and exits with status 2. Anything else is a
defect of the simulator: one line naming it, status 1. ``SIM_DEBUG=1`` in the environment adds the
traceback to either.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Callable, NoReturn

from sim.base.config import ConfigError

#: The environment variable that shows tracebacks.
DEBUG_ENV = "SIM_DEBUG"


class InputError(ValueError):
    """A file, a path or an argument a command cannot use, with a message saying what to do."""


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (an :class:`InputError`), like the tools' other errors."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{self.prog}: {message}; check the command against {self.prog} --help")


def positive_number(kind: type = float, high: float | None = None) -> Callable[[str], float]:
    """An argparse type: a finite number > 0 (an int with ``kind=int``), at most ``high``."""

    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not (value > 0 and value < float("inf")) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text} is not allowed: it must be > 0" + (f" and at most {high:g}" if high else ""))
        return value

    return convert


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def one_line(err: BaseException) -> str:
    """The error's message on one line."""
    if isinstance(err, OSError) and err.strerror:
        where = f": {err.filename}" if err.filename else ""
        return f"{err.strerror}{where}; check the path, its permissions and the free disk space"
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, (ConfigError, InputError)):
        return text
    return f"internal error, {type(err).__name__}: {text} (please report it; {DEBUG_ENV}=1 shows where)"


def report(err: BaseException) -> int:
    """Print ``err`` as one line on stderr (the traceback first with ``SIM_DEBUG=1``); return the exit
    status: 2 for the user's errors (configuration, input, files), 1 for a defect."""
    if debugging():
        traceback.print_exception(err)
    print(f"error: {one_line(err)}", file=sys.stderr)
    return 2 if isinstance(err, (ConfigError, InputError, OSError)) else 1


def run_command(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a command's ``main``; its errors become one line and a non-zero exit status."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        return report(err)
