"""The import rules live in pyproject.toml's [tool.importlinter] (run by scripts/test as lint-imports).

What import-linter cannot say: that its contracts name every module of the gateway (a module
added under gateway/ and named nowhere would escape every rule, so this checks the lists),
and that no import cycle exists anywhere (its layers only see cycles that cross a layer).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp  # import-linter's graph builder

ROOT = Path(__file__).resolve().parents[1]
# The composition root wires everything (frontends, cheroot and its connection class, the demo
# wiring): in no layer.
COMPOSITION = {"gateway.app", "gateway.server", "gateway.httpconn", "gateway.cli", "gateway.__main__"}
# Where an HTTP peer is spoken to: the only gateway packages allowed to import requests.
HTTP_PEERS = {"gateway.providers", "gateway.arr", "gateway.integrations"}
PACKAGES = ("gateway", "fs", "api", "emulators")


def gateway_children() -> set[str]:
    children = set()
    for path in (ROOT / "gateway").iterdir():
        if path.suffix == ".py" and path.stem != "__init__":
            children.add(f"gateway.{path.stem}")
        elif path.is_dir() and (path / "__init__.py").exists():
            children.add(f"gateway.{path.name}")
    return children


def contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def test_every_gateway_module_is_in_a_layer() -> None:
    layered = {name.strip() for layer in contracts()["layers"]["layers"] for name in layer.split("|")}
    assert gateway_children() - COMPOSITION == layered - {"api", "fs"}


def test_every_core_module_is_a_source_of_the_core_contracts() -> None:
    core = gateway_children() - COMPOSITION
    by_id = contracts()
    assert set(by_id["core-no-web"]["source_modules"]) == core
    assert set(by_id["emulators"]["source_modules"]) == {"api", "fs", "gateway"}
    assert set(by_id["requests"]["source_modules"]) == (core - HTTP_PEERS) | {"api", "fs"}


def import_cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a self-import): Tarjan."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & modules) for m in sorted(modules)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges[v]:
                cycles.append(sorted(component))

    for module in edges:
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycles() -> None:
    # TYPE_CHECKING imports count: an annotation-only back-reference is still a knot a reader
    # must untie, and the first runtime use of it would make the cycle real.
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert import_cycles(graph, set(graph.modules)) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("a", "b", "c", "d"):
        graph.add_module(name)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    graph.add_import(importer="c", imported="a")
    graph.add_import(importer="c", imported="d")
    assert import_cycles(graph, {"a", "b", "c", "d"}) == [["a", "b", "c"]]
