"""config.json on disk: environment overrides, load, atomic save (temp file, fsync, rename),
and the masked copy API answers show."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.config.kinds import mask_secret
from gateway.config.settings import SECRET_KEYS, Config, parse_config
from gateway.errors import ConfigError

# ------------------------------------------------------------ env overrides

def apply_env(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """DECYPHARR_PORT=9000 sets a top-level scalar; DECYPHARR_DEBRIDS__0__API_KEY a list item."""
    merged: dict[str, Any] = json.loads(json.dumps(raw))
    for name, value in environ.items():
        if not name.startswith("DECYPHARR_") or name == "DECYPHARR_CONFIG_DIR":
            continue
        path = name[len("DECYPHARR_"):].lower().split("__")
        _set_path(merged, path, _env_value(value), name)
    return merged


def _env_value(value: str) -> Any:
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, (bool, int, float, list, dict)) else value


def _set_path(node: Any, path: list[str], value: Any, env_name: str) -> None:
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            if not part.isdigit():
                raise ConfigError(env_name, f"{part!r} is not a list index")
            index = int(part)
            while len(node) <= index:
                node.append({})
            if last:
                node[index] = value
            else:
                node = node[index]
        else:
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, [] if path[i + 1].isdigit() else {})


# ------------------------------------------------------------ load and save

def config_path(config_dir: str) -> Path:
    return Path(config_dir) / "config.json"


def read_raw(config_dir: str) -> dict[str, Any]:
    """The stored JSON, or {} when there is none yet."""
    path = config_path(config_dir)
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError("config.json", f"is not valid JSON: {exc}") from None
    except OSError as exc:
        raise ConfigError("config.json", f"cannot be read: {exc.strerror}") from None
    if not isinstance(raw, dict):
        raise ConfigError("config.json", "must hold a JSON object")
    return raw


def load_config(config_dir: str, environ: Mapping[str, str] | None = None) -> Config:
    """Read, override from the environment and validate. Creates a default file on first start."""
    raw = read_raw(config_dir)
    if not config_path(config_dir).exists():
        write_raw(config_dir, default_raw())
    return parse_config(apply_env(raw, os.environ if environ is None else environ), config_dir)


def default_raw() -> dict[str, Any]:
    return {"port": 8282, "use_auth": True, "categories": ["sonarr", "radarr"],
            "default_download_action": "symlink", "debrids": [], "arrs": []}


def write_raw(config_dir: str, raw: Mapping[str, Any]) -> None:
    """Atomically replace config.json: temp file in the same folder, fsync, rename."""
    path = config_path(config_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(raw, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def masked_raw(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the raw config with every secret masked, for API answers."""
    def walk(node: Any, key: str = "") -> Any:
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, key) for v in node]
        if key in SECRET_KEYS and isinstance(node, str):
            return mask_secret(node)
        return node
    masked: dict[str, Any] = walk(dict(raw))
    return masked
