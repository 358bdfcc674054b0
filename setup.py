"""Build of the package: the engine's hot path compiled to C by mypyc, when it can be.

``sim/serving/engine.py``, ``iteration.py``, ``perf.py``, ``router.py`` and ``speculative.py`` run a few times per
request, millions of times per simulated fleet-hour. mypyc compiles them, from the same typed Python,
into C extensions that run the simulator about twice as fast; everything else stays Python.

Whatever goes wrong, the package installs: without a C compiler, if mypyc rejects the sources, or with
``SIM_PURE_PYTHON=1`` in the environment, it installs as plain Python (the same results, more slowly).
pip runs this file once per PEP 517 hook (build requirements, metadata, the build itself): only a hook that
builds (``build_ext``, ``bdist_wheel``, ``editable_wheel``, ...) compiles, so the sources are compiled once per
install, not once per hook. After a build, ``sim/serving/_native_build.py`` records the SHA-256 of the sources the extensions were built
from, only if every one of them was built; ``sim/serving/native.py`` imports the compiled engine only when that
record matches the sources beside it, and the Python sources otherwise.
"""

import hashlib
import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

NATIVE_SOURCES = [
    "sim/serving/engine.py", "sim/serving/iteration.py", "sim/serving/perf.py", "sim/serving/router.py", "sim/serving/speculative.py",
]
#: setup.py commands that build the package (the others only ask for requirements or metadata).
BUILD_COMMANDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}
GROUP = "sim_native"  # mypyc's shared library: sim_native__mypyc
RECORD = "sim/serving/_native_build.py"


def write_record(directory: Path, digests: dict[str, str]) -> None:
    path = directory / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        '"""Written by setup.py: SHA-256 of each source compiled by mypyc (empty: not compiled)."""\n\n'
        f"SOURCE_SHA256 = {digests!r}\n"
    )


class BuildNative(build_ext):
    """Build the extensions (each optional), then record the sources only if all of them were built."""

    def run(self) -> None:
        for extension in self.extensions:
            Path(self.get_ext_fullpath(extension.name)).unlink(missing_ok=True)  # no leftover counts as built
        super().run()
        built = bool(self.extensions) and all(Path(self.get_ext_fullpath(e.name)).exists() for e in self.extensions)
        digests = {path: hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in NATIVE_SOURCES} if built else {}
        if not built:
            print("some extensions were not built (no C compiler?): the Python sources will run")
        write_record(Path(self.build_lib), digests)  # into the wheel
        write_record(Path("."), digests)  # beside the sources, for an editable install


def pure_python(reason: str) -> list:
    """No extensions; those an earlier build left beside the sources are removed (and, with an empty
    record, would never be imported anyway)."""
    print(f"{reason}: installing the simulator as plain Python")
    for suffix in EXTENSION_SUFFIXES:
        for path in [Path(source).with_suffix(suffix) for source in NATIVE_SOURCES] + [Path(f"{GROUP}__mypyc{suffix}")]:
            path.unlink(missing_ok=True)
    write_record(Path("."), {})
    return []


def native_extensions() -> list:
    """The C extensions of the hot path, compiled from the typed sources by mypyc (about half a minute),
    or none."""
    if os.environ.get("SIM_PURE_PYTHON", "") not in ("", "0"):
        return pure_python("SIM_PURE_PYTHON is set")
    try:
        from mypyc.build import mypycify
    except ImportError:
        return pure_python("mypyc is not available")
    print("compiling the engine's hot path with mypyc")
    try:
        # The build environment holds no runtime dependency: their types are unknown to mypy (Any),
        # which only costs the few calls into them a generic call.
        extensions = mypycify(["--ignore-missing-imports", "--follow-imports=silent", *NATIVE_SOURCES], group_name=GROUP)
    except (Exception, SystemExit) as exc:  # mypy rejects the sources: a type error, or a newer mypy
        return pure_python(f"mypyc could not compile the sources ({exc})")
    for extension in extensions:
        extension.optional = True  # no C compiler: skip it (the record then says nothing was compiled)
    return extensions


building = any(arg in BUILD_COMMANDS for arg in sys.argv[1:])
setup(ext_modules=native_extensions() if building else [], cmdclass={"build_ext": BuildNative})
