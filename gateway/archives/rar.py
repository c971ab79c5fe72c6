"""RAR4/RAR5 volume headers, read with rarfile through our own file objects.

rarfile parses one volume at a time (``part_only``) from any seekable file object and hands
each header to ``info_callback`` with its data offset and packed size; it seeks over the data
areas, never reads them. So a volume costs a window at its head and one at each header after
a data area (for a stored set: the end-of-archive header at the tail). The end header is
worth its read: RAR4 keeps the volume number there, and it says whether more volumes follow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import rarfile

from gateway.archives.base import ArchiveRefused, HeaderReader, VolumeReadError

RAR4_SIGNATURE = b"Rar!\x1a\x07\x00"
RAR5_SIGNATURE = b"Rar!\x1a\x07\x01\x00"
_STORE = rarfile.RAR_M0


@dataclass(frozen=True)
class FileHeader:
    """One file header of one volume: the piece of a member that volume holds."""

    name: str
    size: int  # the member's unpacked size
    offset: int  # where this piece's bytes start in the volume
    packed: int  # how many of them this volume holds
    split_before: bool
    split_after: bool


@dataclass
class RarVolume:
    """What one volume's headers say."""

    number: int | None = None  # 0-based, from the headers; None when they do not say
    more: bool = False  # the end header says another volume follows
    files: list[FileHeader] = field(default_factory=list)


def is_rar(head: bytes) -> bool:
    return head.startswith(RAR4_SIGNATURE) or head.startswith(RAR5_SIGNATURE)


def parse_volume(reader: HeaderReader) -> RarVolume:
    """Read one volume's headers; refuse what cannot be streamed or is not a RAR volume."""
    volume = reader.volume
    if not is_rar(reader.pread(0, len(RAR5_SIGNATURE))):
        raise ArchiveRefused(f"{volume.name} is not a RAR volume")
    headers: list[Any] = []
    try:
        archive = rarfile.RarFile(reader, info_callback=headers.append, errors="strict", part_only=True)
        encrypted = archive.needs_password()
    except (VolumeReadError, ArchiveRefused):
        raise
    except (rarfile.Error, struct.error, ValueError, IndexError, KeyError, OverflowError, TypeError) as exc:
        # Mangled headers make rarfile (and the struct/bytes code under it) raise all sorts.
        if "EOF" in str(exc):
            raise ArchiveRefused(f"truncated volume {volume.name}") from None
        raise ArchiveRefused(f"damaged RAR headers in {volume.name}: {exc}") from None
    if encrypted:
        raise ArchiveRefused("encrypted RAR")
    parsed = _read_headers(volume.name, headers)
    if any(f.offset + f.packed > reader.size for f in parsed.files):
        raise ArchiveRefused(f"truncated volume {volume.name}")
    return parsed


def _read_headers(name: str, headers: list[Any]) -> RarVolume:
    result = RarVolume()
    for h in headers:
        if h.type == rarfile.RAR_BLOCK_MAIN:
            if h.flags & rarfile.RAR_MAIN_SOLID:
                raise ArchiveRefused("solid RAR")
            if h.flags & rarfile.RAR_MAIN_PASSWORD:
                raise ArchiveRefused("encrypted RAR")
            if getattr(h, "main_volume_number", None) is not None:
                result.number = int(h.main_volume_number)
            elif h.flags & rarfile.RAR_MAIN_FIRSTVOLUME:
                result.number = 0
            elif getattr(h, "main_flags", None) is not None and not h.flags & rarfile.RAR_MAIN_VOLUME:
                result.number = 0  # RAR5, not a volume: the one and only
        elif h.type == rarfile.RAR5_BLOCK_ENCRYPTION:
            raise ArchiveRefused("encrypted RAR")
        elif h.type == rarfile.RAR_BLOCK_ENDARC:
            result.more = bool(h.flags & rarfile.RAR_ENDARC_NEXT_VOLUME)
            if getattr(h, "endarc_volnr", None) is not None:
                result.number = int(h.endarc_volnr)
        elif h.type == rarfile.RAR_BLOCK_FILE and not h.is_dir():
            result.files.append(_file_header(name, h))
    return result


def _file_header(volume: str, h: Any) -> FileHeader:
    if h.needs_password():
        raise ArchiveRefused("encrypted RAR")
    if h.flags & rarfile.RAR_FILE_SOLID:
        raise ArchiveRefused("solid RAR")
    if h.compress_type != _STORE:
        raise ArchiveRefused("compressed RAR")
    size, packed, offset = h.file_size, h.add_size, h.data_offset
    if not all(isinstance(v, int) and v >= 0 for v in (size, packed, offset)):
        raise ArchiveRefused(f"damaged RAR headers in {volume}: file sizes")
    return FileHeader(
        name=str(h.filename),
        size=size,
        offset=offset,
        packed=packed,
        split_before=bool(h.flags & rarfile.RAR_FILE_SPLIT_BEFORE),
        split_after=bool(h.flags & rarfile.RAR_FILE_SPLIT_AFTER),
    )
