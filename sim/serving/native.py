"""Which engine runs: the mypyc-compiled one or the Python sources.

``setup.py`` compiles the modules of the engine's hot path (:data:`NATIVE_MODULES`) into C extensions,
which share one library (``sim_native__mypyc``), and records the SHA-256 of the sources it compiled when
all of them were built. Python imports an extension in preference to the source of the same name, so an
edited source (an editable install, a ``git pull``) or a failed rebuild would silently leave an old
engine running. :func:`select_engine`, called when the package is imported, prevents that: it imports
the compiled modules only if every one of them and their shared library are there, built from the
sources beside them; otherwise it warns and imports all of them from their sources (compiled and source
modules are never mixed). ``SIM_PURE_PYTHON=1`` in the environment imports the sources without a
warning (to compare the two, or to debug). Both give the same results; the compiled one is faster.

Only these modules' sources are checked: the compiled code reaches every other module through Python's
generic attribute and call protocol, so editing those takes effect as usual.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import warnings
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

#: Compiled when the package is built, in dependency order: modules of ``sim.serving``.
NATIVE_PACKAGE = "serving"
NATIVE_MODULES = ("speculative", "iteration", "perf", "engine", "router")
SHARED_LIBRARY = "sim_native__mypyc"

_SOURCE_DIR = Path(__file__).resolve().parent  # this package: sim/serving


def pure_python_requested() -> bool:
    """``SIM_PURE_PYTHON`` set to anything but empty or 0."""
    return os.environ.get("SIM_PURE_PYTHON", "") not in ("", "0")


def source_path(name: str) -> str:
    """Where the source of compiled module ``name`` lies in the project, as ``setup.py`` records it."""
    return f"sim/{NATIVE_PACKAGE}/{name}.py"


def _compiled(name: str) -> bool:
    return any((_SOURCE_DIR / f"{name}{suffix}").exists() for suffix in EXTENSION_SUFFIXES)


def stale_modules(source_dir: Path, source_sha256: dict[str, str]) -> list[str]:
    """Compiled modules whose source in ``source_dir`` differs from the one compiled (whose SHA-256
    ``source_sha256`` holds by :func:`source_path`)."""
    return [
        name
        for name in NATIVE_MODULES
        if hashlib.sha256((source_dir / f"{name}.py").read_bytes()).hexdigest() != source_sha256.get(source_path(name))
    ]


def _recorded_sha256() -> dict[str, str]:
    try:
        from sim.serving._native_build import SOURCE_SHA256
    except ImportError:  # compiled by hand, or the record was deleted: nothing can be trusted
        return {}
    return SOURCE_SHA256


def _import_sources() -> None:
    package = importlib.import_module(f"sim.{NATIVE_PACKAGE}")  # its __init__ is plain Python
    for name in NATIVE_MODULES:
        spec = importlib.util.spec_from_file_location(f"{package.__name__}.{name}", _SOURCE_DIR / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        setattr(package, name, module)  # as the import system does for a submodule


def why_not_compiled() -> str | None:
    """Why the compiled modules beside the sources cannot be trusted (None: they can)."""
    missing = [name for name in NATIVE_MODULES if not _compiled(name)]
    if missing:
        return f"{', '.join(source_path(name)[:-3] for name in missing)} not compiled"
    if importlib.util.find_spec(SHARED_LIBRARY) is None:
        return f"their shared library {SHARED_LIBRARY} is missing"
    stale = stale_modules(_SOURCE_DIR, _recorded_sha256())
    if stale:
        return f"{', '.join(source_path(name) for name in stale)} changed since the engine was compiled (or its build failed)"
    return None


def select_engine() -> None:
    """Import the compiled engine if it is whole and built from the current sources, else the sources."""
    if not any(_compiled(name) for name in NATIVE_MODULES) or any(f"sim.{NATIVE_PACKAGE}.{name}" in sys.modules for name in NATIVE_MODULES):
        return  # nothing compiled (a plain Python install), or already chosen
    if pure_python_requested():
        _import_sources()
        return
    reason = why_not_compiled()
    if reason:
        warnings.warn(
            f"sim: {reason}; running the Python sources (same results, slower). Rebuild the compiled "
            "engine with `pip install -e .` (or set SIM_PURE_PYTHON=1 to silence this).",
            stacklevel=2,
        )
        _import_sources()


def compiled() -> bool:
    """Whether the engine that runs is the compiled one."""
    import sim.serving.engine

    return not str(sim.serving.engine.__file__).endswith(".py")
