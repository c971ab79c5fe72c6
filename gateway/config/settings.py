"""The whole configuration: ``Config``, its secrets, and the validation of a raw mapping."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gateway.config.sections as sections
from gateway.config.kinds import _expect, _int, _list_of, _no_unknown, _str_list, _url_base
from gateway.config.schema import _parsers, _secret_keys, setting
from gateway.config.sections import (
    DEFAULT_FILE_TYPES,
    DOWNLOAD_ACTIONS,
    FOLDER_NAMINGS,
    LOG_LEVELS,
    USENET,
    _parse_arr,
    _parse_custom_folders,
    _parse_debrid,
    _parse_usenet,
    parse_media_server,
)
from gateway.errors import ConfigError


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
    custom_folders: tuple[sections.CustomFolder, ...] = setting(
        (), kind="json", section="Imports", help='JSON: {"name": {"filters": {"include": "..."}}}',
        parse=lambda k, v: _parse_custom_folders(k, v))
    debrids: tuple[sections.DebridConfig, ...] = setting((), kind="items", item=sections.DebridConfig,
                                                         parse=lambda k, v: _list_of(_parse_debrid)(k, v))
    arrs: tuple[sections.ArrConfig, ...] = setting((), kind="items", item=sections.ArrConfig,
                                                   parse=lambda k, v: _list_of(_parse_arr)(k, v))
    repair: sections.RepairConfig = setting(kind="section", section="Repair", factory=sections.RepairConfig)
    mount: sections.MountConfig = setting(kind="section", section="Mount", factory=sections.MountConfig)
    notifications: sections.NotificationsConfig = setting(kind="section", section="Notifications",
                                                          factory=sections.NotificationsConfig)
    usenet: sections.UsenetConfig = setting(kind="section", section="Usenet", factory=sections.UsenetConfig,
                                            parse=lambda k, v: _parse_usenet(k, v))
    media_servers: tuple[sections.MediaServerConfig, ...] = setting(
        (), kind="items", item=sections.MediaServerConfig, parse=lambda k, v: _list_of(parse_media_server)(k, v))
    rclone_rc: sections.RcloneRcConfig = setting(kind="section", section="rclone", factory=sections.RcloneRcConfig)

    @property
    def prefix(self) -> str:
        """url_base without a trailing slash: '' or '/decypharr'."""
        return self.url_base.rstrip("/")

    def debrid(self, name: str) -> sections.DebridConfig | None:
        return next((d for d in self.debrids if d.name == name), None)

    @property
    def debrid_order(self) -> tuple[str, ...]:
        """Account names in the order adds try them: those with a ``priority`` first (lower
        first), then the others; config order breaks ties."""
        ranked = sorted(enumerate(self.debrids),
                        key=lambda pair: (pair[1].priority is None, pair[1].priority or 0, pair[0]))
        return tuple(d.name for _, d in ranked)


SECRET_KEYS = tuple(dict.fromkeys(_secret_keys(Config)))   # api_key, download_api_keys, token, password


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
