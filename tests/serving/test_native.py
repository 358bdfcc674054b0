"""The compiled engine (mypyc) against its Python sources: same results, and never a stale build."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.base.config import compose_config
from sim.serving.native import NATIVE_MODULES, compiled, source_path, stale_modules
from sim.run.simulation import Simulation, build
from tests.serving.test_engine import CASES as ENGINE_CASES

# The engine's own equivalence workloads: preemptions, closed loop, ties, MTP, disaggregated pools.
SCENARIOS = {name: overrides for name, (overrides, perf) in ENGINE_CASES.items() if perf is None}
COLUMNS = ("first_token_s", "finish_s", "generated_tokens", "gpu_s", "preemptions", "worker")

_RUN = """
import json, sys
import sim.serving.native
from sim.base.config import compose_config
from sim.run.simulation import Simulation, build
result = Simulation(build(compose_config(*sys.argv[1:]))).run()
print(json.dumps({"compiled": sim.serving.native.compiled(),
                  "columns": {c: result.requests[c].tolist() for c in %r}}))
""" % (COLUMNS,)


@pytest.mark.skipif(not compiled(), reason="the engine is not compiled here (no C compiler when installed)")
@pytest.mark.parametrize("name", SCENARIOS)
def test_compiled_engine_gives_the_sources_results_exactly(name):
    overrides = SCENARIOS[name]
    env = dict(os.environ, SIM_PURE_PYTHON="1")
    out = subprocess.run([sys.executable, "-c", _RUN, *overrides], env=env, capture_output=True, text=True, check=True)
    pure = json.loads(out.stdout)
    assert pure["compiled"] is False
    result = Simulation(build(compose_config(*overrides))).run()  # the low-level run: some cases complete nothing
    for column in COLUMNS:  # bit for bit: the same IEEE operations in the same order
        np.testing.assert_array_equal(result.requests[column], np.array(pure["columns"][column], dtype=float), err_msg=column)


def test_a_source_edited_after_the_build_is_detected(tmp_path):
    import hashlib

    for name in NATIVE_MODULES:
        (tmp_path / f"{name}.py").write_text(f"# {name}\n")
    recorded = {source_path(n): hashlib.sha256(f"# {n}\n".encode()).hexdigest() for n in NATIVE_MODULES}
    assert stale_modules(tmp_path, recorded) == []
    (tmp_path / "perf.py").write_text("# perf, edited\n")
    assert stale_modules(tmp_path, recorded) == ["perf"]
    assert stale_modules(tmp_path, {}) == list(NATIVE_MODULES)  # no record: nothing is trusted


_CHOICE = """
import warnings
warnings.simplefilter("always")
import sys
if "--no-shared-library" in sys.argv:
    sys.modules["sim_native__mypyc"] = None  # as if the install had lost it
import sim.serving.native, sim.serving.perf
print(sim.serving.native.compiled(), hasattr(sim.serving.perf, "EDITED"))
"""


def _run_copy(tmp_path, *args, edit=False):
    """Import a copy of the installed package (and its compiled modules) from ``tmp_path``."""
    import sim

    shutil.copytree(Path(sim.__file__).parent, tmp_path / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    if edit:
        with open(tmp_path / "sim" / "serving" / "perf.py", "a") as f:
            f.write("\nEDITED = True\n")
    env = {k: v for k, v in os.environ.items() if k != "SIM_PURE_PYTHON"}
    out = subprocess.run([sys.executable, "-c", _CHOICE, *args], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    return out.stdout.split(), out.stderr


@pytest.mark.skipif(not compiled(), reason="the engine is not compiled here (no C compiler when installed)")
def test_the_compiled_engine_runs_only_when_whole_and_built_from_the_sources_beside_it(tmp_path):
    assert _run_copy(tmp_path / "as_built") == (["True", "False"], "")
    (choice, warning) = _run_copy(tmp_path / "edited", edit=True)
    assert choice == ["False", "True"] and "sim/serving/perf.py changed since the engine was compiled" in warning
    (choice, warning) = _run_copy(tmp_path / "no_library", "--no-shared-library")
    assert choice == ["False", "False"] and "shared library sim_native__mypyc is missing" in warning
