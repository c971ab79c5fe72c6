"""The archive layer's vocabulary, and the file objects its parsers read volumes through.

A volume sits behind a ranged read (a CDN link, or usenet articles), so the parsers never see
the volume itself: they read a ``HeaderReader``, which fetches windows of a few KiB around what
is asked, keeps the windows it fetched, and refuses a volume whose headers want more than a
budget (a mangled header that claims megabytes of header, a parser wandering into member data).
A header longer than the window (long names, extra records) makes the next window twice as long,
so it costs one more read, not one per window. A reader can be ``sealed``: the head said enough,
so a read needing a new window raises ``Sealed`` instead of costing a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.archives.crypto import Cipher
from gateway.seekable import PositionalReader

WINDOW = 4096  # one read fetches this much: a RAR head (signature, main and file headers) fits
HEADER_BUDGET = 64 * 1024  # header bytes read per volume before it is refused
READ_BUDGET = 64  # ranged reads per volume before it is refused


class Volume(Protocol):
    """One volume of an archive set: a name, a size and ranged reads (network behind them)."""

    @property
    def name(self) -> str: ...

    @property
    def size(self) -> int: ...

    def read(self, offset: int, length: int) -> bytes: ...


@dataclass(frozen=True)
class Extent:
    """``length`` bytes of a member at ``offset`` in ``volume`` (an index into the volumes as given)."""

    volume: int
    offset: int
    length: int


@dataclass(frozen=True)
class Member:
    """A file inside the archive: its extents, in order, add up to ``size`` (when ``cipher`` is set,
    to ``size`` padded to whole AES blocks: the extents hold ciphertext, ``cipher`` decrypts it)."""

    name: str
    size: int
    extents: tuple[Extent, ...]
    cipher: Cipher | None = None


class ArchiveRefused(Exception):
    """The set cannot be streamed (or is not a valid set); ``reason`` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VolumeReadError(Exception):
    """A volume's own read failed (network): carried through the parsers and raised as it was."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Sealed(Exception):
    """A sealed HeaderReader was asked for bytes outside its windows (the parser stops there)."""


class HeaderReader(PositionalReader):
    """A read-only, seekable file over a Volume that reads windows and counts what it reads."""

    clamp_seeks = True

    def __init__(self, volume: Volume, budget: int = HEADER_BUDGET, window: int = WINDOW) -> None:
        super().__init__(max(0, int(volume.size)))
        self.volume = volume
        self.budget = budget
        self.window = window
        self.bytes_read = 0
        self.reads = 0
        self.sealed = False
        self._windows: list[tuple[int, bytes]] = []

    def pread(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` (fewer at the end of the volume), from the window if there."""
        size = max(0, min(size, self.size - offset))
        if size == 0:
            return b""
        end = offset + size
        for start, data in self._windows:
            if start <= offset and end <= start + len(data):
                return data[offset - start : end - start]
        if self.sealed:
            raise Sealed(offset)
        if any(start < offset <= start + len(data) for start, data in self._windows):
            self.window = min(2 * self.window, self.budget // 4)  # a header runs past its window
        start, data = self._fetch(offset, max(size, self.window))
        return data[offset - start : end - start]

    def _fetch(self, offset: int, size: int) -> tuple[int, bytes]:
        size = min(size, self.size - offset)
        self.reads += 1
        self.bytes_read += size
        if self.bytes_read > self.budget or self.reads > READ_BUDGET:
            raise ArchiveRefused(f"headers of {self.volume.name} need more than {self.budget // 1024} KiB")
        try:
            data = self.volume.read(offset, size)
        except Exception as exc:  # the caller's network error, not a parse error: keep it
            raise VolumeReadError(exc) from exc
        window = (offset, bytes(data))
        self._windows.append(window)
        return window
