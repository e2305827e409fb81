"""The layers of docs/ARCHITECTURE.md hold: import-linter's contracts pass, no two of our top-level
packages import each other, the dataset cache key covers the code the simulation runs, and no
two modules share a name.

`make test` runs `lint-imports` before pytest; this test runs it too, so `pytest` alone enforces the
layers."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import grimp

from obsim_cli import dataset_cache

REPO = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
ROOTS: list[str] = CONFIG["root_packages"]
SERVICE: str = next(c for c in CONFIG["contracts"] if c["id"] == "service")["source_modules"][0]
#: contract modules the cache key covers through the scenario's simulated fields, not their code
KEYED_BY_SCENARIO = {"obsim", "obsim.scenario", "obsim.difficulty", "obsim.taxonomy"}


def _lint_imports() -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)


def _package_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """Each top-level package and the other top-level packages its modules import."""
    edges: dict[str, set[str]] = {root: set() for root in ROOTS}
    for module in graph.modules:
        importer = module.split(".")[0]
        for imported in graph.find_modules_directly_imported_by(module):
            target = imported.split(".")[0]
            if target != importer:
                edges[importer].add(target)
    return edges


def test_every_import_linter_contract_is_kept():
    result = _lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    contracts = len(CONFIG["contracts"])
    assert f"Contracts: {contracts} kept, 0 broken." in result.stdout, result.stdout


def test_no_cycle_between_our_top_level_packages():
    edges = _package_edges(grimp.build_graph(*ROOTS))
    try:
        order = list(TopologicalSorter(edges).static_order())
    except CycleError as error:
        raise AssertionError(f"our packages import each other in a cycle: {error.args[1]}") from error
    assert set(order) == set(ROOTS)
    assert edges["simulator"].isdisjoint({"live"}) and edges["live"].isdisjoint({"simulator"})
    assert not edges[SERVICE], f"the service imports {sorted(edges[SERVICE])} of ours"


def test_the_cache_key_covers_the_code_the_simulation_runs():
    graph = grimp.build_graph(*ROOTS)
    runs = graph.find_upstream_modules("simulator.run") | {"simulator.run"}
    keyed = [REPO / directory for directory in dataset_cache.CODE_DIRS]
    missing = sorted(
        module
        for module in runs - KEYED_BY_SCENARIO
        if not any(Path(_file_of(module)).is_relative_to(directory) for directory in keyed)
    )
    assert not missing, f"the dataset cache key misses code the simulation runs: {missing}"


def _file_of(module: str) -> str:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return spec.origin


def test_one_meaning_per_module_name():
    """No two of our modules share a name, and none shares one with a module of the service, so a
    name read in a traceback, an import or a review says which module it is."""
    graph = grimp.build_graph(*ROOTS)
    ours: dict[str, list[str]] = {}
    service: set[str] = set()
    for module in graph.modules:
        name = module.rsplit(".", 1)[-1]
        path = importlib.util.find_spec(module)
        if path is None or path.origin is None or path.origin.endswith("__init__.py"):
            continue  # a package: its folder's name groups, it does not name a module
        if module.split(".")[0] == SERVICE:
            service.add(name)
        else:
            ours.setdefault(name, []).append(module)
    shared = {name: modules for name, modules in ours.items() if len(modules) > 1}
    assert not shared, shared
    assert not service & set(ours), sorted(service & set(ours))
