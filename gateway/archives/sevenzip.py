"""7z archives stored with the Copy method, single or split (``.7z.001``, ``.7z.002`` ...).

A 7z archive keeps its headers at the END: a 32-byte signature header at the start points at
them. py7zr reads them from any seekable file object, so it reads a ``JoinedReader`` (the
volumes end to end, with windowed reads): the signature header, then the few KiB at the tail.
A split 7z is a plain byte split, so extents are found on the joined stream and cut at the
volume boundaries.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import IO, Any, cast

import py7zr
import py7zr.exceptions

from gateway.archives.base import ArchiveRefused, Extent, HeaderReader, Member, Volume, VolumeReadError
from gateway.seekable import PositionalReader

SIGNATURE = b"7z\xbc\xaf\x27\x1c"
_COPY = b"\x00"
_BUDGET = 256 * 1024  # a 7z header lists every file: allow more than a RAR head


def is_7z(head: bytes) -> bool:
    return head.startswith(SIGNATURE)


class JoinedReader(PositionalReader):
    """The volumes as one seekable stream, each read through its own HeaderReader."""

    clamp_seeks = True

    def __init__(self, readers: Sequence[HeaderReader]) -> None:
        self.readers = list(readers)
        self.starts = list(itertools.accumulate((reader.size for reader in self.readers), initial=0))
        super().__init__(self.starts.pop())   # the last running total is the size

    def pread(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` of the joined stream, across volume boundaries."""
        out = bytearray()
        for reader, start in zip(self.readers, self.starts, strict=True):
            if len(out) >= size:
                break
            lo = offset + len(out)
            if start <= lo < start + reader.size:
                out += reader.pread(lo - start, size - len(out))
        return bytes(out)


def map_7z(volumes: Sequence[Volume], readers: Sequence[HeaderReader], order: Sequence[int]) -> list[Member]:
    """Members of a 7z (split) archive whose volumes, in ``order``, are ``volumes``' indexes."""
    ordered = [readers[i] for i in order]
    for reader in ordered:
        reader.budget = _BUDGET
    joined = JoinedReader(ordered)
    try:
        with py7zr.SevenZipFile(cast(IO[bytes], joined), mode="r") as archive:
            header = archive.header
            files = list(archive.files)
    except (VolumeReadError, ArchiveRefused):
        raise
    except py7zr.exceptions.PasswordRequired:
        raise ArchiveRefused("encrypted 7z") from None
    except Exception as exc:  # py7zr raises many types on mangled headers; none is ours to crash on
        raise ArchiveRefused(f"damaged 7z headers: {exc}") from None
    streams = getattr(header, "main_streams", None)
    try:
        members = _members(streams, files, joined) if streams is not None else []
    except (IndexError, AttributeError, TypeError, KeyError) as exc:  # counts that disagree
        raise ArchiveRefused(f"damaged 7z headers: {exc!r}") from None
    return [_cut(m, joined, order) for m in members]


def _members(streams: Any, files: list[Any], joined: JoinedReader) -> list[tuple[str, int, int]]:
    """(name, size, offset in the joined stream) of each file; refuse anything but Copy."""
    folders = streams.unpackinfo.folders
    packinfo = streams.packinfo
    sub = streams.substreamsinfo
    for folder in folders:
        if len(folder.coders) != 1 or folder.coders[0].get("method") != _COPY:
            raise ArchiveRefused("7z not Copy")
    sizes = list(sub.unpacksizes) if sub is not None and sub.unpacksizes is not None else []
    counts = list(sub.num_unpackstreams_folders) if sub is not None else [1] * len(folders)
    # Each folder is one packed stream (Copy has one input); its files lie end to end in it.
    placed: list[tuple[int, int]] = []
    listed = 0
    for index, count in enumerate(counts):
        offset = 32 + packinfo.packpos + packinfo.packpositions[index]
        if count == 1 and len(sizes) < listed + 1:
            # A folder holding one file lists no substream size: the folder's own size is the file's.
            folder_sizes = [int(folders[index].unpacksizes[-1])]
        else:
            folder_sizes = sizes[listed:listed + count]
            listed += count
        for size in folder_sizes:
            placed.append((offset, size))
            offset += size
    result: list[tuple[str, int, int]] = []
    streams_used = 0
    for info in files:
        if info.is_directory:
            continue
        if info.emptystream:
            result.append((str(info.filename), 0, 0))
            continue
        offset, size = placed[streams_used]
        streams_used += 1
        if offset + size > joined.size:
            raise ArchiveRefused("missing or truncated 7z volume")
        result.append((str(info.filename), size, offset))
    return result


def _cut(member: tuple[str, int, int], joined: JoinedReader, order: Sequence[int]) -> Member:
    """Cut a member's span of the joined stream at the volume boundaries."""
    name, size, offset = member
    extents: list[Extent] = []
    end = offset + size
    for place, (reader, start) in enumerate(zip(joined.readers, joined.starts, strict=True)):
        lo, hi = max(offset, start), min(end, start + reader.size)
        if lo < hi:
            extents.append(Extent(order[place], lo - start, hi - lo))
    return Member(name, size, tuple(extents))
