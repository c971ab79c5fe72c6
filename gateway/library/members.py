"""Reading a file stored inside archive volumes: a member's bytes as ranges of its volumes.

``MemberStream`` is a sequential stream over a ``Member``'s extents (``gateway.archives``): it
opens one bounded stream per extent it crosses, through an ``opener(volume, start, last)`` the
caller supplies, so the volumes may sit behind anything that serves byte ranges (debrid links
through the ``Streamer``, usenet articles). It keeps the ``ByteStream`` shape every reader
uses (``position``, ``read``, ``close``), so the uncached and the cached handles read a
virtual file like any other.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence

from gateway.archives import Extent
from gateway.archives.crypto import Cipher, DecryptingStream, Stream
from gateway.library.relay import Relay

# (volume index, first byte, last byte) of that volume -> sequential bytes (``ResilientStream``,
# a usenet reader ...)
VolumeOpener = Callable[[int, int, int], Stream]


class MemberStream(Relay[Stream]):
    """Bytes ``start`` .. ``end`` (inclusive; None: to the end) of a member, extent after extent."""

    def __init__(self, extents: Sequence[Extent], opener: VolumeOpener, start: int, end: int | None = None) -> None:
        self._extents = tuple(extents)
        self._starts = list(itertools.accumulate((extent.length for extent in self._extents), initial=0))
        self.size = total = self._starts.pop()   # the last running total is the size
        self._opener = opener
        self.position = start
        self._end = total - 1 if end is None else min(end, total - 1)
        self._stream: Stream | None = None
        self._left = 0   # bytes the open stream still holds for this member

    def read(self, size: int) -> bytes:
        size = min(size, self._end + 1 - self.position)
        if size <= 0:
            return b""
        if self._stream is None or self._left == 0:
            self._open()
        assert self._stream is not None
        data = self._stream.read(min(size, self._left))
        if not data:
            raise OSError(5, "a volume ended before the end of its piece of the member")
        self.position += len(data)
        self._left -= len(data)
        return data

    def _open(self) -> None:
        """A stream over the rest of the extent holding ``position``, up to the member's ``end``."""
        self._drop()
        index = bisect.bisect_right(self._starts, self.position) - 1
        extent = self._extents[index]
        inside = self.position - self._starts[index]
        length = min(extent.length - inside, self._end + 1 - self.position)
        first = extent.offset + inside
        self._stream = self._opener(extent.volume, first, first + length - 1)
        self._left = length


def open_member(extents: Sequence[Extent], opener: VolumeOpener, start: int, end: int | None = None,
                cipher: Cipher | None = None, size: int | None = None) -> MemberStream | DecryptingStream:
    """A member's bytes ``start`` .. ``end``; an encrypted one (``cipher``, real ``size``) decrypted
    from its ciphertext extents, which are opened from the AES block before ``start``."""
    if cipher is None:
        return MemberStream(extents, opener, start, end)
    total = sum(e.length for e in extents) if size is None else size
    last = total - 1 if end is None else min(end, total - 1)
    return DecryptingStream(cipher, lambda first, stop: MemberStream(extents, opener, first, stop), start, last,
                            total)


def read_member(extents: Sequence[Extent], opener: VolumeOpener, offset: int, length: int) -> bytes:
    """``length`` bytes at ``offset`` of a member (fewer at its end), in one go."""
    stream = MemberStream(extents, opener, offset, offset + length - 1)
    parts = []
    try:
        while data := stream.read(1 << 20):
            parts.append(data)
    finally:
        stream.close()
    return b"".join(parts)
