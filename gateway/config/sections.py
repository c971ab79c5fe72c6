"""The sections of config.json: one frozen dataclass each, with the parsers of what its
fields cannot say alone (a debrid's provider and budget, filters, path maps, servers)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from gateway.config.kinds import (
    _choice,
    _expect,
    _int,
    _list_of,
    _no_unknown,
    _str,
    parse_duration,
    parse_size,
)
from gateway.config.schema import _parsers, _section, setting
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


def _parse_usenet(key: str, raw: Any) -> UsenetConfig:
    cfg: UsenetConfig = _section(key, raw, UsenetConfig)
    names = [p.name for p in cfg.providers]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{key}.providers", f"two usenet servers are named {name!r}")
    return cfg


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
