"""The compiled engine (mypyc) against its Python sources: same results, and never a stale build."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.config import compose_config
from sim.native import NATIVE_MODULES, compiled, stale_modules
from sim.simulation import simulate
from tests.test_engine import CASES as ENGINE_CASES

# The engine's own equivalence workloads: preemptions, closed loop, ties, MTP, disaggregated pools.
SCENARIOS = {name: overrides for name, (overrides, perf) in ENGINE_CASES.items() if perf is None}
COLUMNS = ("first_token_s", "finish_s", "generated_tokens", "gpu_s", "preemptions", "worker")

_RUN = """
import json, sys
import sim.native
from sim.config import compose_config
from sim.simulation import simulate
result = simulate(compose_config(*sys.argv[1:]))
print(json.dumps({"compiled": sim.native.compiled(),
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
    result = simulate(compose_config(*overrides))
    for column in COLUMNS:  # bit for bit: the same IEEE operations in the same order
        np.testing.assert_array_equal(result.requests[column], np.array(pure["columns"][column], dtype=float), err_msg=column)


def test_a_source_edited_after_the_build_is_detected(tmp_path):
    import hashlib

    for name in NATIVE_MODULES:
        (tmp_path / f"{name}.py").write_text(f"# {name}\n")
    recorded = {f"sim/{n}.py": hashlib.sha256(f"# {n}\n".encode()).hexdigest() for n in NATIVE_MODULES}
    assert stale_modules(tmp_path, recorded) == []
    (tmp_path / "perf.py").write_text("# perf, edited\n")
    assert stale_modules(tmp_path, recorded) == ["perf"]
    assert stale_modules(tmp_path, {}) == list(NATIVE_MODULES)  # no record: nothing is trusted


def test_pure_python_switch_imports_the_sources():
    code = "import sim.native, sim.engine; print(sim.native.compiled(), sim.engine.__file__)"
    env = dict(os.environ, SIM_PURE_PYTHON="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "False" and Path(out[1]).name == "engine.py"
