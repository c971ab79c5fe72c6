"""Typed, frozen configuration: loaded and validated once.

``config.json`` keys follow Decypharr's so a user can bring theirs along.
Sizes ("500MB", base 1024) and durations ("30s", "10m", "2h", "3d", "1w")
are parsed here and nowhere else. Every problem raises ``ConfigError``
naming the key; nothing here ever lets a traceback reach the user.
Writes are atomic (temp file, fsync, rename).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError

PROVIDERS = ("realdebrid", "alldebrid", "torbox", "debridlink", "premiumize")
DOWNLOAD_ACTIONS = ("symlink", "strm", "download", "none")
FOLDER_NAMINGS = ("filename", "original", "filename_no_ext", "original_no_ext", "infohash")
FILTER_TYPES = (
    "include", "exclude", "starts_with", "ends_with", "not_starts_with", "not_ends_with",
    "regex", "not_regex", "exact_match", "not_exact_match", "size_gt", "size_lt",
    "last_added", "file_count_gt", "file_count_lt", "files_regex", "not_files_regex",
)
REGEX_FILTERS = ("regex", "not_regex", "files_regex", "not_files_regex")
SIZE_FILTERS = ("size_gt", "size_lt")
COUNT_FILTERS = ("file_count_gt", "file_count_lt")
LOG_LEVELS = ("debug", "info", "warning", "warn", "error", "critical")
# A provider's documented request budget (providers.md §0), used when rate_limit is unset.
DEFAULT_RATE_LIMITS = {
    "realdebrid": "250/minute", "alldebrid": "600/minute", "torbox": "300/minute",
    "debridlink": "60/minute", "premiumize": "",
}
DEFAULT_FILE_TYPES = (
    "mkv", "mp4", "avi", "mov", "m4v", "wmv", "webm", "ts", "m2ts", "mpg", "mpeg", "flv",
    "mp3", "flac", "m4a", "aac", "ogg", "opus", "wav", "srt", "ass", "ssa", "sub", "idx", "vtt",
)
SECRET_KEYS = ("api_key", "download_api_keys", "token")

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(second|sec|s|minute|min|m|hour|h)\s*$", re.IGNORECASE)
_RATE_UNITS = {"second": 1, "sec": 1, "s": 1, "minute": 60, "min": 60, "m": 60, "hour": 3600, "h": 3600}


def parse_size(key: str, value: Any) -> int:
    """'500MB' → 524288000 (base 1024); ints pass through; '' → 0 (unset)."""
    if isinstance(value, bool):
        raise ConfigError(key, f"expected a size like '500MB', got {_shown(value)}")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str):
        if not value.strip():
            return 0
        match = _SIZE_RE.match(value)
        if match:
            unit = (match.group(2) or "").upper().replace("I", "").rstrip("B") or "B"
            size = float(match.group(1)) * _SIZE_UNITS[unit if unit != "B" else ""]
            if math.isfinite(size):   # 400 digits make float() infinite, and int(inf) raises
                return int(size)
    raise ConfigError(key, f"expected a size like '500MB', got {_shown(value)}")


def parse_duration(key: str, value: Any) -> float:
    """'1h30m' → 5400.0 seconds; a bare number means seconds; always finite."""
    seconds = math.inf
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        try:
            seconds = float(value)
        except OverflowError:   # an int beyond any float
            pass
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif text and _DURATION_RE.sub("", text) == "":
            seconds = sum(float(n) * _DURATION_UNITS[u.lower()] for n, u in _DURATION_RE.findall(text))
    # Infinity (JSON's Infinity, or 400 digits) would break Event.wait() and deadline arithmetic later.
    if math.isfinite(seconds):
        return seconds
    raise ConfigError(key, f"expected a duration like '30s', '10m', '2h', '3d', got {_shown(value)}")


def parse_rate(key: str, value: Any) -> tuple[int, float] | None:
    """'250/minute' → (250, 60.0); 'off' (or 'none', '0', or '' for unset) → None: no client-side limit."""
    if isinstance(value, str) and value.strip().lower() in ("", "off", "none", "0", "unlimited"):
        return None   # '': premiumize's default (no documented budget) used to be refused
    if isinstance(value, str):
        match = _RATE_RE.match(value)
        count = _whole(match.group(1)) if match else None
        if match and count:
            return count, float(_RATE_UNITS[match.group(2).lower()])
    raise ConfigError(key, f"expected a rate like '250/minute', got {_shown(value)}")


def _whole(digits: str) -> int | None:
    """int() of a digit string, or None past Python's 4300-digit limit (a bare ValueError)."""
    try:
        return int(digits)
    except ValueError:
        return None


def _shown(value: Any) -> str:
    """repr() for an error message: one of an int over 4300 digits raises ValueError itself."""
    try:
        return repr(value)
    except ValueError:
        return f"a {type(value).__name__} too large to show"


def mask_secret(value: str) -> str:
    """'****' plus the last four characters, as the API shows secrets."""
    return "****" + value[-4:] if value else ""


@dataclass(frozen=True)
class DebridConfig:
    name: str
    provider: str
    api_key: str = ""
    download_api_keys: tuple[str, ...] = ()
    api_url: str = ""
    rate_limit: tuple[int, float] | None = None
    download_uncached: bool = False
    torrents_refresh_interval: float = 300.0
    download_links_refresh_interval: float = 600.0
    auto_expire_links_after: float = 86400.0
    proxy: str = ""
    user_agent: str = ""
    priority: int | None = None      # adds try lower first; None: config order


@dataclass(frozen=True)
class ArrConfig:
    name: str
    host: str = ""
    token: str = ""
    skip_repair: bool = False
    download_uncached: bool | None = None
    selected_debrid: str = ""


@dataclass(frozen=True)
class RepairConfig:
    enabled: bool = False
    interval: float = 86400.0
    auto_process: bool = False
    workers: int = 4


@dataclass(frozen=True)
class MountConfig:
    type: str = "none"
    mount_path: str = ""
    cache_dir: str = ""
    chunk_size: int = 8 << 20
    read_ahead_size: int = 64 << 20
    disk_cache_size: int = 5 << 30
    cache_expiry: float = 86400.0
    uid: int = -1
    gid: int = -1
    umask: int = 0o022
    allow_other: bool = False


@dataclass(frozen=True)
class NotificationsConfig:
    enabled: bool = False
    webhook_url: str = ""
    callback_url: str = ""
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class CustomFolder:
    name: str
    filters: tuple[tuple[str, Any], ...]   # (type, parsed value); regexes compiled


@dataclass(frozen=True)
class Config:
    config_dir: str = ""
    bind_address: str = "0.0.0.0"
    port: int = 8282
    url_base: str = "/"
    log_level: str = "info"
    use_auth: bool = True
    enable_webdav_auth: bool = False
    disable_webdav: bool = False
    download_folder: str = ""
    categories: tuple[str, ...] = ("sonarr", "radarr")
    default_download_action: str = "symlink"
    refresh_interval: float = 10.0
    max_active_downloads: int = 5
    allowed_file_types: tuple[str, ...] = DEFAULT_FILE_TYPES
    min_file_size: int = 0
    max_file_size: int = 0
    allow_samples: bool = False
    unpack_archives: bool = True   # show the files stored inside a torrent's RAR/7z set (contract §9)
    folder_naming: str = "filename"
    custom_folders: tuple[CustomFolder, ...] = ()
    debrids: tuple[DebridConfig, ...] = ()
    arrs: tuple[ArrConfig, ...] = ()
    repair: RepairConfig = field(default_factory=RepairConfig)
    mount: MountConfig = field(default_factory=MountConfig)
    notifications: NotificationsConfig = field(default_factory=NotificationsConfig)

    @property
    def prefix(self) -> str:
        """url_base without a trailing slash: '' or '/decypharr'."""
        return self.url_base.rstrip("/")

    def debrid(self, name: str) -> DebridConfig | None:
        return next((d for d in self.debrids if d.name == name), None)

    @property
    def debrid_order(self) -> tuple[str, ...]:
        """Account names in the order adds try them: those with a ``priority`` first (lower
        first), then the others; config order breaks ties."""
        ranked = sorted(enumerate(self.debrids),
                        key=lambda pair: (pair[1].priority is None, pair[1].priority or 0, pair[0]))
        return tuple(d.name for _, d in ranked)


# ---------------------------------------------------------------- validation

def _expect(key: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ConfigError(key, f"expected {what}, got {_shown(value)}")
    if not isinstance(value, kind):
        raise ConfigError(key, f"expected {what}, got {_shown(value)}")
    return value


def _str(key: str, value: Any) -> str:
    checked: str = _expect(key, value, str, "a string")
    return checked


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    checked: bool = _expect(key, value, bool, "true or false")
    return checked


def _int(key: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        number = _whole(value.strip())
        if number is None:
            raise ConfigError(key, f"expected a whole number, got one of {len(value.strip())} digits")
        value = number
    _expect(key, value, int, "a whole number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(key, f"must be between {low} and {high}, got {_shown(value)}")
    return int(value)


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    text = _str(key, value).lower()
    if text not in choices:
        raise ConfigError(key, f"must be one of {', '.join(choices)}; got {value!r}")
    return text


def _str_list(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    _expect(key, value, list, "a list of strings")
    return tuple(_str(f"{key}[{i}]", v) for i, v in enumerate(value))


def _no_unknown(key: str, raw: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        where = f"{key}." if key else ""
        raise ConfigError(f"{where}{unknown[0]}", "unknown key")


def _section(key: str, raw: Any, cls: type, parsers: Mapping[str, Any]) -> Any:
    """Build a sub-config dataclass from a dict, one parser per key."""
    if raw is None:
        raw = {}
    _expect(key, raw, dict, "an object")
    _no_unknown(key, raw, set(parsers))
    values = {name: parsers[name](f"{key}.{name}", raw[name]) for name in parsers if name in raw}
    return cls(**values)


def _parse_debrid(key: str, raw: Any) -> DebridConfig:
    _expect(key, raw, dict, "an object")
    name = _str(f"{key}.name", raw.get("name") or raw.get("provider") or "")
    if not name:
        raise ConfigError(f"{key}.name", "every debrid needs a name (or provider)")
    provider = _choice(f"{key}.provider", raw.get("provider") or name, PROVIDERS)
    rate = raw.get("rate_limit", DEFAULT_RATE_LIMITS[provider]) or DEFAULT_RATE_LIMITS[provider]
    parsers = {
        "name": lambda k, v: name, "provider": lambda k, v: provider,
        "api_key": _str, "download_api_keys": _str_list, "api_url": _url,
        "rate_limit": parse_rate, "download_uncached": _bool,
        "torrents_refresh_interval": parse_duration,
        "download_links_refresh_interval": parse_duration,
        "auto_expire_links_after": parse_duration, "proxy": _str, "user_agent": _str,
        "priority": lambda k, v: None if v is None else _int(k, v, 0),
    }
    cfg: DebridConfig = _section(key, {**raw, "name": name, "provider": provider, "rate_limit": rate},
                                 DebridConfig, parsers)
    if not cfg.api_key:
        raise ConfigError(f"{key}.api_key", "is required")
    return cfg


def _url(key: str, value: Any) -> str:
    text = _str(key, value).strip()
    if text and not re.match(r"^https?://[^/\s]+", text):
        raise ConfigError(key, f"expected an http(s) URL, got {value!r}")
    return text.rstrip("/")


def _parse_arr(key: str, raw: Any) -> ArrConfig:
    def optional_bool(k: str, v: Any) -> bool | None:
        return None if v is None else _bool(k, v)

    parsers = {"name": _str, "host": _url, "token": _str, "skip_repair": _bool,
               "download_uncached": optional_bool, "selected_debrid": _str}
    cfg: ArrConfig = _section(key, raw, ArrConfig, parsers)
    if not cfg.name:
        raise ConfigError(f"{key}.name", "is required")
    return cfg


def _parse_filter(key: str, kind: str, value: Any) -> Any:
    if kind in REGEX_FILTERS:
        try:
            return re.compile(_str(key, value), re.IGNORECASE)
        except (re.error, OverflowError, RecursionError) as exc:   # a{4294967296}, or nesting too deep
            raise ConfigError(key, f"invalid regular expression: {exc}") from None
    if kind in SIZE_FILTERS:
        return parse_size(key, value)
    if kind in COUNT_FILTERS:
        return _int(key, value, 0)
    if kind == "last_added":
        return parse_duration(key, value)
    return _str(key, value).lower()


def _parse_custom_folders(key: str, raw: Any) -> tuple[CustomFolder, ...]:
    _expect(key, raw, dict, "an object of {name: {filters: {...}}}")
    folders = []
    for name, spec in raw.items():
        where = f"{key}.{name}"
        if not name or "/" in name or name in (".", "..", "__all__", "__bad__"):
            raise ConfigError(where, "is not a usable folder name")
        _expect(where, spec, dict, "an object with 'filters'")
        _no_unknown(where, spec, {"filters"})
        filters = spec.get("filters") or {}
        _expect(f"{where}.filters", filters, dict, "an object of {type: value}")
        parsed = []
        for kind, value in filters.items():
            if kind not in FILTER_TYPES:
                raise ConfigError(f"{where}.filters.{kind}", f"unknown filter type; use one of {', '.join(FILTER_TYPES)}")
            parsed.append((kind, _parse_filter(f"{where}.filters.{kind}", kind, value)))
        folders.append(CustomFolder(name=name, filters=tuple(parsed)))
    return tuple(folders)


def _list_of(parser: Any) -> Any:
    def parse(key: str, value: Any) -> tuple[Any, ...]:
        _expect(key, value, list, "a list")
        return tuple(parser(f"{key}[{i}]", item) for i, item in enumerate(value))
    return parse


def _url_base(key: str, value: Any) -> str:
    text = "/" + _str(key, value).strip().strip("/")
    if re.search(r"[^A-Za-z0-9._~/-]", text):
        raise ConfigError(key, f"may only hold URL path characters, got {value!r}")
    return text if text == "/" else text + "/"


def _umask(key: str, value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"0?[0-7]{1,4}", value.strip()):
        return int(value.strip(), 8)
    return _int(key, value, 0, 0o777)


def _top_parsers() -> dict[str, Any]:
    return {
        "bind_address": _str, "port": lambda k, v: _int(k, v, 0, 65535), "url_base": _url_base,
        "log_level": lambda k, v: _choice(k, v, LOG_LEVELS), "use_auth": _bool,
        "enable_webdav_auth": _bool, "disable_webdav": _bool, "download_folder": _str,
        "categories": _str_list,
        "default_download_action": lambda k, v: _choice(k, v, DOWNLOAD_ACTIONS),
        "refresh_interval": parse_duration, "max_active_downloads": lambda k, v: _int(k, v, 1, 1000),
        "allowed_file_types": lambda k, v: tuple(t.lower().lstrip(".") for t in _str_list(k, v)),
        "min_file_size": parse_size, "max_file_size": parse_size, "allow_samples": _bool, "unpack_archives": _bool,
        "folder_naming": lambda k, v: _choice(k, v, FOLDER_NAMINGS),
        "custom_folders": _parse_custom_folders,
        "debrids": _list_of(_parse_debrid), "arrs": _list_of(_parse_arr),
        "repair": lambda k, v: _section(k, v, RepairConfig, {
            "enabled": _bool, "interval": parse_duration, "auto_process": _bool,
            "workers": lambda kk, vv: _int(kk, vv, 1, 64)}),
        "mount": lambda k, v: _section(k, v, MountConfig, {
            "type": lambda kk, vv: _choice(kk, vv, ("none", "fuse")), "mount_path": _str,
            "cache_dir": _str, "chunk_size": parse_size, "read_ahead_size": parse_size,
            "disk_cache_size": parse_size, "cache_expiry": parse_duration,
            "uid": lambda kk, vv: _int(kk, vv, -1), "gid": lambda kk, vv: _int(kk, vv, -1),
            "umask": _umask, "allow_other": _bool}),
        "notifications": lambda k, v: _section(k, v, NotificationsConfig, {
            "enabled": _bool, "webhook_url": _str, "callback_url": _str, "events": _str_list}),
    }


def _check_consistency(cfg: Config) -> None:
    names = [d.name for d in cfg.debrids]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError("debrids", f"two debrids are named {name!r}")
    for i, arr in enumerate(cfg.arrs):
        if arr.selected_debrid and cfg.debrid(arr.selected_debrid) is None:
            raise ConfigError(f"arrs[{i}].selected_debrid", f"no debrid named {arr.selected_debrid!r}")
    if cfg.min_file_size and cfg.max_file_size and cfg.min_file_size > cfg.max_file_size:
        raise ConfigError("min_file_size", "is larger than max_file_size")
    if cfg.mount.type == "fuse" and not cfg.mount.mount_path:
        raise ConfigError("mount.mount_path", "is required when mount.type is 'fuse'")
    if cfg.mount.chunk_size <= 0:
        raise ConfigError("mount.chunk_size", "must be larger than zero")


def parse_config(raw: Mapping[str, Any], config_dir: str = "") -> Config:
    """Validate a raw ``config.json`` mapping (env overrides already applied)."""
    _expect("config.json", raw, dict, "a JSON object")
    parsers = _top_parsers()
    _no_unknown("", raw, set(parsers))
    values = {name: parsers[name](name, raw[name]) for name in parsers if name in raw}
    cfg = Config(config_dir=config_dir, **values)
    if not cfg.download_folder:
        cfg = dataclasses.replace(cfg, download_folder=os.path.join(config_dir, "downloads"))
    if not cfg.mount.cache_dir:
        cfg = dataclasses.replace(cfg, mount=dataclasses.replace(
            cfg.mount, cache_dir=os.path.join(config_dir, "cache")))
    _check_consistency(cfg)
    return cfg


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
