"""Which files of a torrent to select at the provider (allowed types, sizes, samples)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from gateway.archives import archive_volumes, is_archive_set
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
    """File ids to select, in ascending order (RD maps links to files in id order).

    With ``unpack_archives``, a torrent that is one archive set (volumes and sidecars) is the
    files it holds: its volumes are selected whole, and the size bounds apply to the set (what
    is inside is only known once the volumes' headers are read, after the add)."""
    if config.unpack_archives and is_archive_set([f.path for f in files]):
        return _whole_set(files, config)
    return sorted(f.id for f in files if wanted(f, config))


def _whole_set(files: Sequence[RemoteFile], config: Config) -> list[int]:
    volumes = set(archive_volumes([f.path for f in files]))
    chosen = [f for f in files if f.path in volumes]
    total = sum(f.size for f in chosen)
    if (config.min_file_size and total < config.min_file_size) or (config.max_file_size and total > config.max_file_size):
        return []
    return sorted(f.id for f in chosen)
