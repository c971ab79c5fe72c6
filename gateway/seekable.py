"""A read-only, seekable file over positional reads: the one adapter the byte readers share.

The archive parsers (rarfile, py7zr) want a seekable file object; the VFS's handles want
one for WsgiDAV's ranged reads. Each of them reads by offset (``pread``); this class adds
the file position, ``read``, ``readinto`` and ``seek`` on top, so none writes them again.
"""

from __future__ import annotations

import io


class PositionalReader(io.RawIOBase):
    """``size`` bytes read by ``pread(offset, size)``; subclasses implement ``pread``.

    ``clamp_seeks``: a seek before the start lands at 0 instead of raising ValueError as
    a file does (the archive readers have always clamped; the VFS's handles raise).
    """

    clamp_seeks = False

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self._pos = 0

    def pread(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset`` without moving the position (short only at the end)."""
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0 and not self.clamp_seeks:
            raise ValueError("negative seek position")
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        size = self.size - self._pos if size is None or size < 0 else size
        data = self.pread(self._pos, size)
        self._pos += len(data)
        return data

    # RawIOBase takes any writable buffer; the readers are only given bytearray or memoryview.
    def readinto(self, buffer: bytearray | memoryview) -> int:   # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
