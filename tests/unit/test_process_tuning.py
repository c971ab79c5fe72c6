"""The serving process caps glibc's malloc arenas itself, unless the environment already does."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CODE = "from gateway.server import limit_malloc_arenas; print(limit_malloc_arenas())"


def run(env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60, env=env,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc arenas exist only on Linux")
def test_arenas_are_capped_without_the_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert run(env) == "True"


def test_an_explicit_variable_wins() -> None:
    assert run({**os.environ, "MALLOC_ARENA_MAX": "4"}) == "False"
