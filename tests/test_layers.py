"""The import rules live in pyproject.toml's [tool.importlinter] (run by scripts/test as lint-imports).

What import-linter cannot say: that its contracts name every module of the gateway. A module
added under gateway/ and named nowhere would escape every rule, so this checks the lists.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The composition root wires everything (frontends, cheroot, the demo wiring): in no layer.
COMPOSITION = {"gateway.app", "gateway.server", "gateway.cli", "gateway.__main__"}
# Where an HTTP peer is spoken to: the only gateway packages allowed to import requests.
HTTP_PEERS = {"gateway.providers", "gateway.arr"}


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
