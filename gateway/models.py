"""Provider-neutral data: what every provider module maps its wire JSON into."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, overload


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


class StoredFiles(Sequence[RemoteFile]):
    """A torrent's files as the store keeps them, decoded on first use.

    A restart loads 100,000 torrents with a million files; most are never
    listed before the next change, and decoding them all took most of the
    start-up. Length, and the size and count of the selected files (what a
    torrent folder shows before it is opened), are known without decoding.
    The raw text is kept: a second thread may be decoding it at the same time.
    """

    __slots__ = ("_raw", "_count", "shown", "_files", "archives")

    def __init__(self, raw: str, count: int, shown: tuple[int, int], archives: bool | None = None) -> None:
        self._raw = raw
        self._count = count
        self.shown = shown          # (bytes, files) of the selected files
        self._files: tuple[RemoteFile, ...] | None = None
        self.archives = archives    # whether a file name looks like a .rar/.7z volume (None: not known)

    @property
    def raw(self) -> str:
        """The files' JSON text (a cheap look at the names without decoding them)."""
        return self._raw

    def _decoded(self) -> tuple[RemoteFile, ...]:
        files = self._files
        if files is None:
            files = self._files = tuple(map(RemoteFile._make, json.loads(self._raw)))
        return files

    @overload
    def __getitem__(self, index: int) -> RemoteFile: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[RemoteFile]: ...
    def __getitem__(self, index: Any) -> Any:
        return self._decoded()[index]

    def __iter__(self) -> Iterator[RemoteFile]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return self._count

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        return isinstance(other, Sequence) and self._decoded() == tuple(other)

    def __hash__(self) -> int:
        return hash(self._decoded())

    def __repr__(self) -> str:
        return f"StoredFiles({self._count} files)"


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
    files: Sequence[RemoteFile] = ()   # a tuple, or StoredFiles when loaded from the store
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
    key: int = 0                   # which download key made it (``KeyRing`` index)


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
