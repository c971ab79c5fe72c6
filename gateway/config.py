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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError

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
# The provider registry's one list: each service's name and its documented request budget
# (providers.md §0, used when rate_limit is unset). ``gateway.providers`` loads the module of
# that name; the settings form, the OpenAPI schema and every message take the names from here.
DEFAULT_RATE_LIMITS = {
    "realdebrid": "250/minute", "alldebrid": "600/minute", "torbox": "300/minute",
    "debridlink": "60/minute", "premiumize": "",
}
PROVIDERS = tuple(DEFAULT_RATE_LIMITS)
DEFAULT_FILE_TYPES = (
    "mkv", "mp4", "avi", "mov", "m4v", "wmv", "webm", "ts", "m2ts", "mpg", "mpeg", "flv",
    "mp3", "flac", "m4a", "aac", "ogg", "opus", "wav", "srt", "ass", "ssa", "sub", "idx", "vtt",
)

# Queue cleanup (contract §9): what a stuck *arr queue item of ours can be done with, and the
# reasons it is recognised by (gateway/integrations/queuecleanup.py reads its status messages).
QUEUE_CLEANUP_ACTIONS = ("blocklist_search", "blocklist", "remove", "import")
QUEUE_CLEANUP_REASONS = ("no_files", "wrong_release", "sample", "password", "archive")

USENET = "usenet"   # the library's provider name for jobs read from the usenet servers

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


# ------------------------------------------------------------------- schema
#
# A key is one dataclass field made by ``setting``: its default, its ``kind`` (which
# parser reads it, see ``_KIND_PARSERS``; ``parse`` for one of its own), a ``help`` line,
# ``now`` (applies without a restart), ``secret`` (masked in answers). The parsers, the
# secret list, the settings form (api/config_schema.py) and the OpenAPI schema all read
# these fields: adding a key is adding one field.

Parser = Callable[[str, Any], Any]


def setting(default: Any = MISSING, *, kind: str, help: str = "", now: bool = False, secret: bool = False,
            choices: tuple[str, ...] = (), parse: Parser | None = None, section: str = "",
            factory: Callable[[], Any] | None = None, item: type | None = None) -> Any:
    """One config key (see above). ``factory`` for a sub-section's default, ``item`` for the
    dataclass of a list's entries, ``section`` for the form section a top-level key is in."""
    metadata = {"kind": kind, "help": help, "now": now, "secret": secret, "choices": choices,
                "parse": parse, "section": section, "item": item}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class DebridConfig:
    name: str = field(metadata={"kind": "str"})
    provider: str = field(metadata={"kind": "choice", "choices": PROVIDERS})
    api_key: str = setting("", kind="str", secret=True)
    download_api_keys: tuple[str, ...] = setting((), kind="list", secret=True)
    api_url: str = setting("", kind="url")
    rate_limit: tuple[int, float] | None = setting(None, kind="rate",
                                                   help="e.g. 250/minute, or off; empty: the provider's")
    download_uncached: bool = setting(False, kind="bool")
    torrents_refresh_interval: float = setting(300.0, kind="duration")
    download_links_refresh_interval: float = setting(600.0, kind="duration")
    auto_expire_links_after: float = setting(86400.0, kind="duration")
    proxy: str = setting("", kind="str")
    user_agent: str = setting("", kind="str")
    priority: int | None = setting(None, kind="opt_int")      # adds try lower first; None: config order


@dataclass(frozen=True)
class ArrConfig:
    name: str = setting("", kind="str")
    host: str = setting("", kind="url")
    token: str = setting("", kind="str", secret=True)
    skip_repair: bool = setting(False, kind="bool")
    download_uncached: bool | None = setting(None, kind="opt_bool")
    selected_debrid: str = setting("", kind="str")
    queue_cleanup: bool = setting(False, kind="bool", help="act on this *arr's queue items of ours stuck with a "
                                  "known reason (two looks a minute apart); needs host and token")
    queue_cleanup_action: str = setting("blocklist_search", kind="choice", choices=QUEUE_CLEANUP_ACTIONS,
                                        help="what to do with a stuck item")
    queue_cleanup_rules: tuple[tuple[str, str], ...] = setting(   # (reason, action): overrides per reason
        (), kind="json", help='JSON: {"wrong_release": "import"}; reasons: ' + ", ".join(QUEUE_CLEANUP_REASONS),
        parse=lambda k, v: _queue_rules(k, v))

    def queue_action(self, reason: str) -> str:
        """The action queue cleanup takes for an item stuck for ``reason``."""
        return dict(self.queue_cleanup_rules).get(reason, self.queue_cleanup_action)


@dataclass(frozen=True)
class RepairConfig:
    enabled: bool = setting(False, kind="bool")
    interval: float = setting(86400.0, kind="duration")
    auto_process: bool = setting(False, kind="bool")
    workers: int = setting(4, kind="int", parse=lambda k, v: _int(k, v, 1, 64))


@dataclass(frozen=True)
class MountConfig:
    type: str = setting("none", kind="choice", choices=("none", "fuse"))
    mount_path: str = setting("", kind="str")
    cache_dir: str = setting("", kind="str")
    chunk_size: int = setting(8 << 20, kind="size")
    read_ahead_size: int = setting(64 << 20, kind="size")
    disk_cache_size: int = setting(5 << 30, kind="size")
    cache_expiry: float = setting(86400.0, kind="duration")
    uid: int = setting(-1, kind="int", parse=lambda k, v: _int(k, v, -1))
    gid: int = setting(-1, kind="int", parse=lambda k, v: _int(k, v, -1))
    umask: int = setting(0o022, kind="umask")
    allow_other: bool = setting(False, kind="bool")


@dataclass(frozen=True)
class NotificationsConfig:
    enabled: bool = setting(False, kind="bool", now=True)
    webhook_url: str = setting("", kind="str", now=True)
    callback_url: str = setting("", kind="str", now=True)
    events: tuple[str, ...] = setting((), kind="list", now=True)


@dataclass(frozen=True)
class UsenetProviderConfig:
    """One NNTP server account (contract §8). ``password`` is a secret like an API key."""

    name: str = setting("", kind="str", help="empty: the host")
    host: str = setting("", kind="str")
    port: int = setting(119, kind="int", help="563 is usual with TLS", parse=lambda k, v: _int(k, v, 1, 65535))
    username: str = setting("", kind="str")
    password: str = setting("", kind="str", secret=True)
    ssl: bool = setting(False, kind="bool")
    max_connections: int = setting(20, kind="int", help="the account's limit: everything the gateway does together",
                                   parse=lambda k, v: _int(k, v, 1, 500))
    priority: int | None = setting(None, kind="opt_int")   # lower first; None: config order
    backup: bool = setting(False, kind="bool", help="asked only when every primary lacks an article or is down")
    backbone: str = setting("", kind="str", help="servers sharing a tag are skipped after one said missing")


@dataclass(frozen=True)
class UsenetConfig:
    providers: tuple[UsenetProviderConfig, ...] = setting(
        (), kind="items", item=UsenetProviderConfig, parse=lambda k, v: _list_of(_parse_usenet_provider)(k, v))
    max_connections: int = setting(15, kind="int", help="connections one stream uses at once, inside each server's cap",
                                   parse=lambda k, v: _int(k, v, 1, 500))
    read_ahead: int = setting(16 << 20, kind="size")
    import_availability_sample_percent: float = setting(1.0, kind="percent")
    availability_sample_percent: float = setting(10.0, kind="percent", help="repair's STAT sample")
    processing_timeout: float = setting(600.0, kind="duration")
    zero_fill_missing: bool = setting(False, kind="bool", help="zeros (logged, counted) for articles missing everywhere")

    @property
    def enabled(self) -> bool:
        return bool(self.providers)

    @property
    def ordered(self) -> tuple[UsenetProviderConfig, ...]:
        """Servers by ``priority`` (lower first), config order breaking ties."""
        ranked = sorted(enumerate(self.providers),
                        key=lambda pair: (pair[1].priority is None, pair[1].priority or 0, pair[0]))
        return tuple(p for _, p in ranked)


MEDIA_SERVER_TYPES = ("plex", "jellyfin", "emby")


@dataclass(frozen=True)
class MediaServerConfig:
    """One Plex, Jellyfin or Emby server told to scan changed folders (contract §9). ``token`` is a secret."""

    type: str = field(metadata={"kind": "choice", "choices": MEDIA_SERVER_TYPES})
    url: str = field(metadata={"kind": "url"})
    token: str = setting("", kind="str", secret=True)
    name: str = setting("", kind="str", help="empty: type and url")
    path_map: tuple[tuple[str, str], ...] = setting(   # (our prefix, their prefix), longest first
        (), kind="json", help='JSON: {"/our/mount": "/their/path"}', parse=lambda k, v: _path_map(k, v))


@dataclass(frozen=True)
class RcloneRcConfig:
    """A user's rclone remote-control server (``rclone mount --rc``). ``password`` is a secret."""

    url: str = setting("", kind="url", help="rclone --rc address (port 5572 by default): told of changed folders at once")
    username: str = setting("", kind="str")
    password: str = setting("", kind="str", secret=True)

    @property
    def enabled(self) -> bool:
        return bool(self.url)


@dataclass(frozen=True)
class CustomFolder:
    name: str
    filters: tuple[tuple[str, Any], ...]   # (type, parsed value); regexes compiled


@dataclass(frozen=True)
class Config:
    config_dir: str = setting("", kind="internal")   # where config.json lives: not a key of it
    bind_address: str = setting("0.0.0.0", kind="str", section="General")
    port: int = setting(8282, kind="int", section="General", parse=lambda k, v: _int(k, v, 0, 65535))
    url_base: str = setting("/", kind="str", section="General", help="the path the gateway is served under",
                            parse=lambda k, v: _url_base(k, v))
    log_level: str = setting("info", kind="choice", choices=LOG_LEVELS, section="General", now=True)
    use_auth: bool = setting(True, kind="bool", section="General")
    enable_webdav_auth: bool = setting(False, kind="bool", section="General")
    disable_webdav: bool = setting(False, kind="bool", section="General")
    download_folder: str = setting("", kind="str", section="Imports",
                                   help="where symlinks, .strm files and downloads go")
    categories: tuple[str, ...] = setting(("sonarr", "radarr"), kind="list", section="Imports")
    default_download_action: str = setting("symlink", kind="choice", choices=DOWNLOAD_ACTIONS, section="Imports")
    refresh_interval: float = setting(10.0, kind="duration", section="Imports")
    max_active_downloads: int = setting(5, kind="int", section="Imports", parse=lambda k, v: _int(k, v, 1, 1000))
    allowed_file_types: tuple[str, ...] = setting(
        DEFAULT_FILE_TYPES, kind="list", section="Imports",
        parse=lambda k, v: tuple(t.lower().lstrip(".") for t in _str_list(k, v)))
    min_file_size: int = setting(0, kind="size", section="Imports")
    max_file_size: int = setting(0, kind="size", section="Imports")
    allow_samples: bool = setting(False, kind="bool", section="Imports")
    unpack_archives: bool = setting(True, kind="bool", section="Imports",
                                    help="show the files inside a torrent's stored RAR/7z set instead of its volumes")
    folder_naming: str = setting("filename", kind="choice", choices=FOLDER_NAMINGS, section="Imports")
    custom_folders: tuple[CustomFolder, ...] = setting(
        (), kind="json", section="Imports", help='JSON: {"name": {"filters": {"include": "..."}}}',
        parse=lambda k, v: _parse_custom_folders(k, v))
    debrids: tuple[DebridConfig, ...] = setting((), kind="items", item=DebridConfig,
                                                parse=lambda k, v: _list_of(_parse_debrid)(k, v))
    arrs: tuple[ArrConfig, ...] = setting((), kind="items", item=ArrConfig,
                                          parse=lambda k, v: _list_of(_parse_arr)(k, v))
    repair: RepairConfig = setting(kind="section", section="Repair", factory=RepairConfig)
    mount: MountConfig = setting(kind="section", section="Mount", factory=MountConfig)
    notifications: NotificationsConfig = setting(kind="section", section="Notifications",
                                                 factory=NotificationsConfig)
    usenet: UsenetConfig = setting(kind="section", section="Usenet", factory=UsenetConfig,
                                   parse=lambda k, v: _parse_usenet(k, v))
    media_servers: tuple[MediaServerConfig, ...] = setting(
        (), kind="items", item=MediaServerConfig, parse=lambda k, v: _list_of(parse_media_server)(k, v))
    rclone_rc: RcloneRcConfig = setting(kind="section", section="rclone", factory=RcloneRcConfig,
                                        parse=lambda k, v: parse_rclone_rc(k, v))

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


def schema_fields(cls: type) -> tuple[Field[Any], ...]:
    """The keys of a config dataclass, in order (``config_dir`` is not a key)."""
    return tuple(f for f in dataclasses.fields(cls) if f.metadata.get("kind", "internal") != "internal")


def section_class(f: Field[Any]) -> type:
    """The dataclass of a ``section`` key (its default's) or of an ``items`` key's entries."""
    item: type | None = f.metadata.get("item")
    if item is not None:
        return item
    assert callable(f.default_factory), f.name
    return type(f.default_factory())


def _secret_keys(cls: type) -> Iterator[str]:
    for f in schema_fields(cls):
        if f.metadata.get("secret"):
            yield f.name
        if f.metadata["kind"] in ("section", "items"):
            yield from _secret_keys(section_class(f))


SECRET_KEYS = tuple(dict.fromkeys(_secret_keys(Config)))   # api_key, download_api_keys, token, password


def raw_default(f: Field[Any]) -> Any:
    """A key's default as config.json would spell it: '10s', '8MB', '022', [] ... (the
    settings form posts it for an emptied field; the OpenAPI schema documents it)."""
    kind, choices = f.metadata["kind"], f.metadata.get("choices", ())
    if kind == "section":
        return {sub.name: raw_default(sub) for sub in schema_fields(section_class(f))}
    if f.default is MISSING:   # a required key (a debrid's name and provider)
        return choices[0] if choices else ""
    value = f.default
    if kind == "duration":
        return format_duration(value)
    if kind == "size":
        return format_size(value)
    if kind == "umask":
        return f"{value:03o}"
    if kind == "rate":
        return ""   # unset: the provider's documented budget
    if kind == "json":
        return {}
    if isinstance(value, tuple):
        return list(value)
    return value


def format_duration(seconds: float) -> str:
    """86400.0 → '1d', 600.0 → '10m': the largest unit that divides it (parse_duration's inverse)."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds}s"


def format_size(size: int) -> str:
    """8388608 → '8MB'; 0 → '' (unset), as parse_size reads them."""
    if not size:
        return ""
    for unit in ("T", "G", "M", "K"):
        if size % _SIZE_UNITS[unit] == 0:
            return f"{size // _SIZE_UNITS[unit]}{unit}B"
    return str(size)


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


def _optional_bool(key: str, value: Any) -> bool | None:
    return None if value is None else _bool(key, value)


def _optional_int(key: str, value: Any) -> int | None:
    return None if value is None else _int(key, value, 0)


def _parser(f: Field[Any]) -> Parser:
    """The parser of a key: its own ``parse``, else its kind's."""
    own: Parser | None = f.metadata.get("parse")
    if own is not None:
        return own
    kind = f.metadata["kind"]
    if kind == "choice":
        choices = f.metadata["choices"]
        return lambda k, v: _choice(k, v, choices)
    if kind == "section":
        cls = section_class(f)
        return lambda k, v: _section(k, v, cls)
    return _KIND_PARSERS[kind]


def _parsers(cls: type) -> dict[str, Parser]:
    return {f.name: _parser(f) for f in schema_fields(cls)}


def _section(key: str, raw: Any, cls: type, parsers: Mapping[str, Any] | None = None) -> Any:
    """Build a sub-config dataclass from a dict, one parser per key (by default its fields')."""
    parsers = _parsers(cls) if parsers is None else parsers
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
    parsers = {**_parsers(DebridConfig), "name": lambda k, v: name, "provider": lambda k, v: provider}
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
    cfg: ArrConfig = _section(key, raw, ArrConfig)
    if not cfg.name:
        raise ConfigError(f"{key}.name", "is required")
    if cfg.queue_cleanup and not (cfg.host and cfg.token):
        raise ConfigError(f"{key}.queue_cleanup", "needs the *arr's host and token")
    return cfg


def _queue_rules(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    _expect(key, value, dict, "an object of {reason: action}")
    rules = {_choice(f"{key}.{reason}", reason, QUEUE_CLEANUP_REASONS):
             _choice(f"{key}.{reason}", action, QUEUE_CLEANUP_ACTIONS) for reason, action in value.items()}
    return tuple(sorted(rules.items()))


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


# The parser of each kind of key (a key's own ``parse`` comes first).
def _parse_usenet_provider(key: str, raw: Any) -> UsenetProviderConfig:
    _expect(key, raw, dict, "an object")
    if not raw.get("host"):
        raise ConfigError(f"{key}.host", "is required")
    named = {**raw, "name": raw.get("name") or raw.get("host")}
    cfg: UsenetProviderConfig = _section(key, named, UsenetProviderConfig)
    if re.search(r"[/\\\s]", cfg.host):
        raise ConfigError(f"{key}.host", f"expected a host name or address, got {cfg.host!r}")
    return cfg


def _percent(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(key, f"expected a percentage from 0 to 100, got {_shown(value)}")
    try:
        number = float(str(value).strip().rstrip("%"))
    except ValueError:
        raise ConfigError(key, f"expected a percentage from 0 to 100, got {_shown(value)}") from None
    if not 0 <= number <= 100:
        raise ConfigError(key, f"expected a percentage from 0 to 100, got {_shown(value)}")
    return number


def _parse_usenet(key: str, raw: Any) -> UsenetConfig:
    cfg: UsenetConfig = _section(key, raw, UsenetConfig)
    names = [p.name for p in cfg.providers]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{key}.providers", f"two usenet servers are named {name!r}")
    return cfg


_KIND_PARSERS: dict[str, Parser] = {
    "str": _str, "url": _url, "bool": _bool, "int": _int, "size": parse_size, "duration": parse_duration,
    "rate": parse_rate, "list": _str_list, "umask": _umask, "opt_int": _optional_int, "opt_bool": _optional_bool,
    "percent": _percent,
}


# ---------------------------------------------------- telling the rest of the stack (contract §9)

def _path_map(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    _expect(key, value, dict, "an object of {our_prefix: their_prefix}")
    pairs = []
    for ours, theirs in value.items():
        theirs = _str(f"{key}.{ours}", theirs)
        if not ours.startswith("/"):
            raise ConfigError(f"{key}.{ours}", "our prefix must be an absolute path")
        pairs.append((ours.rstrip("/") or "/", theirs.rstrip("/") or "/"))
    return tuple(sorted(pairs, key=lambda pair: len(pair[0]), reverse=True))


def parse_media_server(key: str, raw: Any) -> MediaServerConfig:
    if isinstance(raw, dict):
        for required in ("type", "url"):
            if not raw.get(required):
                raise ConfigError(f"{key}.{required}", "is required")
    cfg: MediaServerConfig = _section(key, raw, MediaServerConfig)
    return cfg if cfg.name else dataclasses.replace(cfg, name=f"{cfg.type} {cfg.url}")


def parse_rclone_rc(key: str, raw: Any) -> RcloneRcConfig:
    cfg: RcloneRcConfig = _section(key, raw, RcloneRcConfig)
    return cfg


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
    if cfg.usenet.enabled and USENET in names:
        raise ConfigError("debrids", f"{USENET!r} names the usenet servers; call the debrid something else")
    if cfg.mount.chunk_size <= 0:
        raise ConfigError("mount.chunk_size", "must be larger than zero")


def parse_config(raw: Mapping[str, Any], config_dir: str = "") -> Config:
    """Validate a raw ``config.json`` mapping (env overrides already applied)."""
    _expect("config.json", raw, dict, "a JSON object")
    parsers = _parsers(Config)
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
