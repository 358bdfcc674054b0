"""Build of the package: the engine's hot path compiled to C by mypyc, when it can be.

``sim/engine.py``, ``sim/perf.py`` and ``sim/speculative.py`` run a few times per request, millions of
times per simulated fleet-hour. mypyc compiles them, from the same typed Python, into C extensions that
run them about 1.4 times as fast; everything else stays Python. Compilation needs a C compiler: without
one (or with ``SIM_PURE_PYTHON=1`` in the environment when installing) the package installs as plain
Python, which gives the same results more slowly. ``sim/native.py`` says at run time which one is loaded,
and falls back to the Python sources if they changed since they were compiled.
"""

import hashlib
import os
from pathlib import Path

from setuptools import setup

NATIVE_SOURCES = ["sim/engine.py", "sim/perf.py", "sim/router.py", "sim/speculative.py"]


def native_extensions() -> list:
    if os.environ.get("SIM_PURE_PYTHON"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("mypyc is not available: installing the simulator as plain Python")
        return []
    # The build environment holds no runtime dependency: their types are unknown to mypy (Any), which
    # only costs the few calls into them a generic call.
    extensions = mypycify(
        ["--ignore-missing-imports", "--follow-imports=silent", *NATIVE_SOURCES], group_name="sim_native"
    )
    for extension in extensions:
        extension.optional = True  # no C compiler: skip it, and the sources are imported instead
    digests = {path: hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in NATIVE_SOURCES}
    Path("sim/_native_build.py").write_text(
        '"""Written by setup.py: SHA-256 of each source compiled by mypyc when the package was built."""\n\n'
        f"SOURCE_SHA256 = {digests!r}\n"
    )
    return extensions


setup(ext_modules=native_extensions())
