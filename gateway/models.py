"""Provider-neutral data: what every provider module maps its wire JSON into."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple


class TorrentStatus(enum.StrEnum):
    """Where a torrent is at its provider, in one vocabulary for all providers."""

    METADATA = "metadata"            # fetching metadata (RD magnet_conversion)
    WAITING_SELECTION = "waiting_selection"
    QUEUED = "queued"
    DOWNLOADING = "downloading"      # includes compressing/uploading
    DOWNLOADED = "downloaded"
    ERROR = "error"                  # magnet error, virus, generic failure
    DEAD = "dead"                    # files gone from provider storage

    @property
    def failed(self) -> bool:
        return self in (TorrentStatus.ERROR, TorrentStatus.DEAD)


class RemoteFile(NamedTuple):
    """One file of a torrent at the provider. ``path`` is relative, '/'-separated.

    A named tuple, not a dataclass: a large library holds a million of these,
    and a tuple is built about five times faster and is smaller.
    """

    id: int
    path: str
    size: int
    selected: bool = True
    link: str = ""   # the provider's restricted link (RD) or direct URL; "" until ready


@dataclass(frozen=True, slots=True)
class Torrent:
    """A torrent in a provider account. ``files`` is empty in bare list results."""

    provider: str          # the configured debrid name, not the provider type
    id: str
    infohash: str          # lower-case hex v1 infohash
    name: str              # the provider's file name for the torrent (RD filename)
    size: int
    status: TorrentStatus
    progress: float        # 0..1
    added: float           # epoch seconds, from the provider
    ended: float = 0.0
    files: tuple[RemoteFile, ...] = ()
    status_detail: str = ""   # the provider's own status word (virus, magnet_error, ...)
    speed: int = 0
    seeders: int = 0
    links: tuple[str, ...] = ()
    original_name: str = ""   # the torrent's own name (RD original_filename)

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider, self.id)


@dataclass(frozen=True)
class DownloadLink:
    """An unrestricted, directly fetchable URL for one file."""

    url: str
    size: int
    expires_at: float              # monotonic deadline after which we re-unrestrict
    download_id: str = ""          # provider id of the link entry (to delete it)
    filename: str = ""


@dataclass(frozen=True)
class Account:
    username: str
    premium: bool
    premium_seconds_left: int = 0
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ActiveCount:
    active: int
    limit: int
