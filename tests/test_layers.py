"""The house rules: every module of ``sim`` imports only from its own layer or the layers below it,
and no module grows past a size a reader can hold in mind.

The layers, bottom to top (a layer may import any layer of a lower rank, and its own package; two
packages of the same rank never import each other):

====  ===========================================================  ==========================================
rank  unit                                                         holds
====  ===========================================================  ==========================================
0     ``sim.base``                                                 schemas, ranges and ``ConfigError``, the
                                                                   clock, files, one-line errors, progress
1     ``sim.spec``                                                 platforms, models, precisions
2     ``sim.network``, ``sim.economics``                           links and collectives; power and money
3     ``sim.serving``                                              workload, engines, router, fleet, perf model
4     ``sim.run``                                                  one run: build, simulate, measure, write;
                                                                   ``python -m sim`` and its guard
5     ``sim.fidelity``, ``sim.study``                              validation and calibration; sweeps
6     ``sim.planning``                                             frontiers, capacity plans, cost waterfalls
7     commands: ``sim`` itself and the ``python -m sim.X`` doors    entry points
====  ===========================================================  ==========================================

Beyond the layers: no two modules import each other, even inside a function (a circle has no bottom), and
the root of ``sim`` holds only the package face, ``__main__`` and the doors, each a few lines that hand over
to a package.

A new module must be placed in this table (the test fails on a module it does not know), so the rule
outlives the change that wrote it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sim

PACKAGE_DIR = Path(sim.__file__).resolve().parent
MAX_LINES = 450
#: the ``python -m sim.X`` doors: the only modules at the root of ``sim`` besides ``__init__`` and ``__main__``
DOORS = ("sim.aggregate", "sim.bench", "sim.calibrate", "sim.frontier", "sim.plan", "sim.report", "sim.sweep", "sim.validate",
         "sim.waterfall")
#: a door hands over to a package: at most this many lines
DOOR_LINES = 25

#: unit -> (rank, module names it holds: a name and everything under it)
UNITS: dict[str, tuple[int, tuple[str, ...]]] = {
    "base": (0, ("sim.base",)),
    "spec": (1, ("sim.spec",)),
    "network": (2, ("sim.network",)),
    "economics": (2, ("sim.economics",)),
    "serving": (3, ("sim.serving",)),
    "run": (4, ("sim.run",)),
    "fidelity": (5, ("sim.fidelity",)),
    "study": (5, ("sim.study",)),
    "planning": (6, ("sim.planning",)),
    "commands": (7, ("sim", "sim.__main__", *DOORS)),
}


def unit_of(module: str) -> str | None:
    """The unit holding ``module`` (the longest name that is it or contains it), or None."""
    best, best_len = None, -1
    for unit, (_, names) in UNITS.items():
        for name in names:
            inside = module == name or (name != "sim" and module.startswith(name + "."))
            if inside and len(name) > best_len:
                best, best_len = unit, len(name)
    return best


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sim_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import of a ``sim`` module in ``source``, inside functions too."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "sim"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sim":
            # `from sim.pkg import module` imports that module; `from sim.module import name`, the module
            submodules = [f"{node.module}.{a.name}" for a in node.names if is_module(f"{node.module}.{a.name}")]
            found += [(node.lineno, m) for m in submodules or [node.module]]
    return found


def is_module(name: str) -> bool:
    path = PACKAGE_DIR.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


SOURCES = sorted(p for p in PACKAGE_DIR.rglob("*.py") if not p.name.startswith("_native_build"))


def test_every_module_belongs_to_a_layer():
    unknown = [module_name(p) for p in SOURCES if unit_of(module_name(p)) is None]
    assert not unknown, f"place these modules in a layer of tests/test_layers.py: {unknown}"


def upward_imports(module: str, source: str) -> list[str]:
    """The imports of ``module`` (whose code is ``source``) that do not point down the layers."""
    importer = unit_of(module)
    rank = UNITS[importer][0]
    upward = []
    for line, imported_module in sim_imports(source):
        imported = unit_of(imported_module)
        if imported is None:
            upward.append(f"line {line}: {imported_module} (a module of no layer)")
        elif imported != importer and UNITS[imported][0] >= rank:
            upward.append(f"line {line}: {imported_module} ({imported}, rank {UNITS[imported][0]})")
    return upward


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_imports_point_down(path):
    module = module_name(path)
    upward = upward_imports(module, path.read_text())
    assert not upward, f"{module} ({unit_of(module)}) imports from its own rank or above: {upward}"


def test_the_rule_catches_upward_and_sideways_imports():
    """The check itself can fail: upward (also inside a function), sideways and unplaced imports are flagged."""
    source = "from sim.base.config import ConfigError\ndef f():\n    from sim.run.simulation import simulate\n"
    assert upward_imports("sim.spec.platform", source) == ["line 3: sim.run.simulation (run, rank 4)"]
    assert upward_imports("sim.economics.cost", "import sim.network.links\n") == ["line 1: sim.network.links (network, rank 2)"]
    assert upward_imports("sim.serving.engine", "from sim import simulate\n") == ["line 1: sim (commands, rank 7)"]
    assert upward_imports("sim.serving.engine", "from sim.run import outputs\nfrom sim.base import config\n") == [
        "line 1: sim.run.outputs (run, rank 4)"]
    assert upward_imports("sim.serving.engine", "from sim.config import ConfigError\n") == [
        "line 1: sim.config (a module of no layer)"]  # the alias kept for users, never for the simulator's own modules
    assert upward_imports("sim.serving.engine", "from sim.serving.perf import DecodeRun\nimport simpy\n") == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_no_module_is_longer_than_a_reader_can_hold(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{module_name(path)} has {lines} lines (at most {MAX_LINES}): split it by concept"


def import_circles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The circles of ``graph`` (module -> the modules it imports): each strongly connected set of more than
    one module (Tarjan's algorithm), its members sorted; a module importing itself does not count."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                circles.append(tuple(sorted(members)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def import_graph() -> dict[str, set[str]]:
    """Every ``sim`` module and the ``sim`` modules it imports (a package's ``__init__`` counts as the package)."""
    modules = {module_name(p): p for p in SOURCES}
    return {m: {i for _, i in sim_imports(p.read_text()) if i in modules and i != m} for m, p in modules.items()}


def test_no_modules_import_each_other():
    """No circle of imports between files, of two modules or more, even through a function's import."""
    circles = import_circles(import_graph())
    assert not circles, f"these modules import each other (put what they share in a module below them): {circles}"


def test_the_circle_check_can_fail():
    assert import_circles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [("a", "b")]
    assert import_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}}) == [("a", "b", "c")]
    assert import_circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_root_holds_only_doors():
    """The root of ``sim`` shows the layers: the package face, ``__main__`` and the thin ``python -m sim.X`` doors."""
    root = sorted(module_name(p) for p in PACKAGE_DIR.glob("*.py") if p.name != "__init__.py")
    assert root == sorted(("sim.__main__", *DOORS)), "a module at the root of sim that is not a door: put it in a layer's package"
    thick = [m for m in DOORS if len((PACKAGE_DIR / f"{m.split('.')[1]}.py").read_text().splitlines()) > DOOR_LINES]
    assert not thick, f"doors are thin (at most {DOOR_LINES} lines): move the code of {thick} into a package"
