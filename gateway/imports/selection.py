"""Which files of a torrent to select at the provider (allowed types, sizes, samples)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from gateway.config import Config
from gateway.models import RemoteFile

_SAMPLE = re.compile(r"(^|[\W_])(sample|trailer)([\W_]|$)", re.IGNORECASE)


def is_sample(path: str) -> bool:
    return any(_SAMPLE.search(part) for part in path.split("/"))


def wanted(file: RemoteFile, config: Config) -> bool:
    ext = file.path.rsplit(".", 1)[-1].lower() if "." in file.path else ""
    if config.allowed_file_types and ext not in config.allowed_file_types:
        return False
    if config.min_file_size and file.size < config.min_file_size:
        return False
    if config.max_file_size and file.size > config.max_file_size:
        return False
    return config.allow_samples or not is_sample(file.path)


def select(files: Sequence[RemoteFile], config: Config) -> list[int]:
    """File ids to select, in ascending order (RD maps links to files in id order)."""
    return sorted(f.id for f in files if wanted(f, config))
