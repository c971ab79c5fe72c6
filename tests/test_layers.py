"""Imports point down the layers (docs/architecture.md): checked on the source, with ast."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPOSITION = {"gateway/app.py", "gateway/server.py", "gateway/cli.py"}
WEB_LIBS = {"wsgidav", "bottle", "cheroot", "mfusepy", "fuse"}
REQUESTS_OK = ("gateway/providers/", "gateway/arr/", "gateway/imports/fetch.py")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def sources(package: str) -> list[tuple[str, set[str]]]:
    return [(str(p.relative_to(ROOT)), imports(p)) for p in sorted((ROOT / package).rglob("*.py"))]


def test_gateway_core_never_imports_frontends() -> None:
    for name, used in sources("gateway"):
        if name in COMPOSITION or name.startswith("gateway/emulators/"):
            continue
        assert not used & {"fs", "api"}, f"{name} imports a frontend package"
        assert not used & WEB_LIBS, f"{name} imports a web/FUSE library: {used & WEB_LIBS}"
        if "requests" in used:
            assert name.startswith(REQUESTS_OK), f"{name} imports requests"


def test_fs_never_imports_api_and_api_never_the_adapters() -> None:
    for name, used in sources("fs"):
        assert "api" not in used, f"{name} imports api/"
        assert "requests" not in used, f"{name} imports requests"
    for name, _ in sources("api"):
        text = (ROOT / name).read_text(encoding="utf-8")
        assert "fs.webdav" not in text and "fs.fuse" not in text, f"{name} imports a sibling frontend"
