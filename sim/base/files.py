"""Files the simulator reads and writes: inputs checked before they are used, outputs whole or not at all.

A result file that a crash, a full disk or a killed job left half written looks complete to whoever reads
it next. Every output goes through :func:`atomic_path`: the content is written to a temporary file in the
same folder, flushed to disk, and only then renamed over the destination, which POSIX makes atomic. A
reader sees the old file or the new one, never a mixture; on failure the temporary file is removed and
the destination is untouched.

Before any work, a command checks where it will write (:func:`check_output_file`, :func:`check_output_dir`:
a folder it can write in, no file where a folder should be) and reads its input files as UTF-8 text
(:func:`read_text`: an empty, binary or differently encoded file is named as such), so a mistake costs a
line, not a simulation.
"""

from __future__ import annotations

import codecs
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sim.base.errors import InputError


def read_text(path: str | Path, what: str) -> str:
    """The text of a UTF-8 file (``what`` names it in messages: "cases file"), or an :class:`InputError`
    saying what it is instead: missing, a folder, empty, binary, UTF-16 or another encoding."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else "is not a regular file" if path.exists() else "does not exist"
        raise InputError(f"{what} {path} {problem}; give the path of a file")
    data = path.read_bytes()
    if not data.strip():
        raise InputError(f"{what} {path} is empty; give a file with a header line and one row per case")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise InputError(f"{what} {path} is UTF-16/32 text; save it as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8 IN > OUT)")
    if b"\x00" in data:
        raise InputError(f"{what} {path} is binary (it holds NUL bytes), not text; give a UTF-8 text file (CSV)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{what} {path} is not UTF-8 text (byte {err.start} is 0x{data[err.start]:02x}); save it as UTF-8"
        ) from None


def _writable_folder(folder: Path, key: str, value: str | Path) -> None:
    """Refuse ``folder`` (to be created if missing) unless its nearest existing ancestor is a folder this
    process can really create files in (tried with a temporary file: permissions, read-only mounts, root)."""
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{key}={value}: {parent} is a file, not a folder; choose another {key}")
            try:
                fd, name = tempfile.mkstemp(prefix=".write-check.", dir=parent)
            except OSError as err:
                raise InputError(f"{key}={value}: cannot write in {parent} ({err.strerror}); choose a folder you can write in") from None
            os.close(fd)
            os.unlink(name)
            return


def check_output_dir(path: str | Path, key: str) -> None:
    """Before any work: can a command create (or write in) folder ``path``? ``key`` names the option."""
    _writable_folder(Path(path).absolute(), key, path)


def check_output_file(path: str | Path, key: str) -> None:
    """Before any work: can a command write file ``path`` (its folder must exist)? ``key`` names the option."""
    target = Path(path).absolute()
    if target.is_dir():
        raise InputError(f"{key}={path} is a folder; give a file name (e.g. {Path(path) / 'out.json'})")
    if not target.parent.is_dir():
        problem = "is a file" if target.parent.exists() else "does not exist"
        raise InputError(f"{key}={path}: the folder {target.parent} {problem}; create it or choose another {key}")
    _writable_folder(target.parent, key, path)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; renamed over ``path`` when the block ends
    without an exception (the folder must exist)."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are meant to be read
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
