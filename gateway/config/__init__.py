"""Typed, frozen configuration: loaded and validated once.

``config.json`` keys follow Decypharr's so a user can bring theirs along. The package in
parts: ``kinds`` parses the value kinds (sizes, durations, rates ...), ``schema`` is the
``setting`` machinery every key is made with, ``sections`` and ``settings`` hold the
dataclasses, ``store`` reads, overrides from the environment, saves and masks. Callers
import from ``gateway.config``; every problem raises ``ConfigError`` naming the key.
"""

from __future__ import annotations

from gateway.config.kinds import (
    Parser,
    format_duration,
    format_size,
    mask_secret,
    parse_duration,
    parse_rate,
    parse_size,
)
from gateway.config.schema import live_keys, raw_default, schema_fields, section_class, setting
from gateway.config.sections import (
    COUNT_FILTERS,
    DEFAULT_FILE_TYPES,
    DEFAULT_RATE_LIMITS,
    DOWNLOAD_ACTIONS,
    FILTER_TYPES,
    FOLDER_NAMINGS,
    LOG_LEVELS,
    MEDIA_SERVER_TYPES,
    PROVIDERS,
    QUEUE_CLEANUP_ACTIONS,
    QUEUE_CLEANUP_REASONS,
    REGEX_FILTERS,
    SIZE_FILTERS,
    USENET,
    ArrConfig,
    CustomFolder,
    DebridConfig,
    MediaServerConfig,
    MountConfig,
    NotificationsConfig,
    RcloneRcConfig,
    RepairConfig,
    UsenetConfig,
    UsenetProviderConfig,
    parse_media_server,
)
from gateway.config.settings import SECRET_KEYS, Config, parse_config
from gateway.config.store import (
    apply_env,
    config_path,
    default_raw,
    load_config,
    masked_raw,
    read_raw,
    write_raw,
)
from gateway.errors import ConfigError

__all__ = [
    "COUNT_FILTERS", "DEFAULT_FILE_TYPES", "DEFAULT_RATE_LIMITS", "DOWNLOAD_ACTIONS", "FILTER_TYPES",
    "FOLDER_NAMINGS", "LOG_LEVELS", "MEDIA_SERVER_TYPES", "PROVIDERS", "QUEUE_CLEANUP_ACTIONS",
    "QUEUE_CLEANUP_REASONS", "REGEX_FILTERS", "SECRET_KEYS", "SIZE_FILTERS", "USENET",
    "ArrConfig", "Config", "ConfigError", "CustomFolder", "DebridConfig", "MediaServerConfig", "MountConfig",
    "NotificationsConfig", "Parser", "RcloneRcConfig", "RepairConfig", "UsenetConfig", "UsenetProviderConfig",
    "apply_env", "config_path", "default_raw", "format_duration", "format_size", "live_keys", "load_config", "mask_secret",
    "masked_raw", "parse_config", "parse_duration", "parse_media_server", "parse_rate",
    "parse_size", "raw_default", "read_raw", "schema_fields", "section_class", "setting", "write_raw",
]
