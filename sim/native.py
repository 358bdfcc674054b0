"""Which engine runs: the mypyc-compiled one or the Python sources.

``setup.py`` compiles the modules of the engine's hot path (:data:`NATIVE_MODULES`) to C extensions
when a C compiler is at hand, and records the SHA-256 of the sources it compiled. Python imports an
extension in preference to the source of the same name, so a source edited after the build (an
editable install, a ``git pull``) would silently not run. :func:`select_engine`, called when the package
is imported, prevents that: if a compiled module's source changed since it was built it warns and
imports all of them from their sources (compiled and source modules are never mixed). Setting
``SIM_PURE_PYTHON=1`` in the environment imports the sources without a warning (to compare the two, or
to debug). Both give the same results; the compiled one is faster.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import warnings
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

#: Compiled when the package is built, in dependency order.
NATIVE_MODULES = ("speculative", "perf", "engine", "router")

_PACKAGE_DIR = Path(__file__).resolve().parent


def _compiled(name: str) -> bool:
    return any((_PACKAGE_DIR / f"{name}{suffix}").exists() for suffix in EXTENSION_SUFFIXES)


def stale_modules(package_dir: Path, source_sha256: dict[str, str]) -> list[str]:
    """Compiled modules whose source in ``package_dir`` differs from the one compiled (whose SHA-256
    ``source_sha256`` holds by path, ``sim/NAME.py``)."""
    return [
        name
        for name in NATIVE_MODULES
        if hashlib.sha256((package_dir / f"{name}.py").read_bytes()).hexdigest() != source_sha256.get(f"sim/{name}.py")
    ]


def _recorded_sha256() -> dict[str, str]:
    try:
        from sim._native_build import SOURCE_SHA256
    except ImportError:  # compiled by hand, or the record was deleted: nothing can be trusted
        return {}
    return SOURCE_SHA256


def _import_sources() -> None:
    for name in NATIVE_MODULES:
        spec = importlib.util.spec_from_file_location(f"sim.{name}", _PACKAGE_DIR / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        setattr(sys.modules["sim"], name, module)  # as the import system does for a submodule


def select_engine() -> None:
    """Import the compiled engine if it is built from the current sources, else the sources."""
    if not any(_compiled(name) for name in NATIVE_MODULES) or any(f"sim.{name}" in sys.modules for name in NATIVE_MODULES):
        return  # nothing compiled, or already chosen
    if os.environ.get("SIM_PURE_PYTHON"):
        _import_sources()
        return
    stale = stale_modules(_PACKAGE_DIR, _recorded_sha256())
    if stale:
        warnings.warn(
            f"sim: {', '.join(f'sim/{name}.py' for name in stale)} changed since the engine was compiled; "
            "running the Python sources (same results, slower). Rebuild the compiled engine with "
            "`pip install -e .` (or set SIM_PURE_PYTHON=1 to silence this).",
            stacklevel=2,
        )
        _import_sources()


def compiled() -> bool:
    """Whether the engine that runs is the compiled one."""
    import sim.engine

    return not str(sim.engine.__file__).endswith(".py")
