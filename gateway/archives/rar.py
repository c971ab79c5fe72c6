"""RAR4/RAR5 volume headers, read with rarfile through our own file objects.

rarfile parses one volume at a time (``part_only``) from any seekable file object and hands
each header to ``info_callback`` with its data offset and packed size; it seeks over the data
areas, never reads them.

A volume costs one read in the normal case, its head window: the signature, the main header
(whether it is a volume; RAR5 keeps the volume number there, RAR4 only "first volume") and the
file header(s), with the pieces' offsets, sizes and split-before/split-after flags. Once a file
header says nothing more of the set can follow in this volume (its piece is split after, or
what is left after its data has no room for another file header), the reader is sealed: the
parse stops before the end-of-archive header at the tail unless that header is already in the
window. ``parse_volume(reader, tail=True)`` reads on to it (RAR4's volume number, "more volumes
follow"); the mapping asks for that only when the head cannot decide. A member ending mid-volume
with room after it still costs a read at the next header: another file may follow.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import rarfile

from gateway.archives.base import ArchiveRefused, HeaderReader, Sealed, VolumeReadError

RAR4_SIGNATURE = b"Rar!\x1a\x07\x00"
RAR5_SIGNATURE = b"Rar!\x1a\x07\x01\x00"
_STORE = rarfile.RAR_M0
# The smallest file header there can be after a data area: fewer bytes left, and no file follows
# (only the end-of-archive header, at most 20 bytes in RAR4 and 8 in RAR5, or service records).
# RAR4: 7-byte block header, 4-byte ADD_SIZE, 21 bytes of fields, a 1-byte name. RAR5: CRC32,
# size, type, flags, file flags, size, attributes, compression, host OS, name length, name.
_MIN_FILE_HEADER = {4: 33, 5: 14}


@dataclass(frozen=True)
class Encryption:
    """An encrypted file's key material as its header gives it (the mapping derives the key)."""

    version: int  # 5: AES-256, key by PBKDF2; 4: AES-128, key and IV by RAR 3.x's SHA-1 rounds
    salt: bytes
    iv: bytes = b""  # RAR5 only
    lg2count: int = 0  # RAR5 only
    check: bytes = b""  # RAR5's password check record (8 bytes and a 4-byte checksum), if any


@dataclass(frozen=True)
class FileHeader:
    """One file header of one volume: the piece of a member that volume holds."""

    name: str
    size: int  # the member's unpacked size
    offset: int  # where this piece's bytes start in the volume
    packed: int  # how many of them this volume holds
    split_before: bool
    split_after: bool
    crypt: Encryption | None = None  # the data is encrypted: the header's key material


@dataclass
class RarVolume:
    """What one volume's headers say."""

    number: int | None = None  # 0-based, from the headers; None when they do not say
    more: bool | None = None  # the end header says another volume follows; None: not read
    is_volume: bool = True  # the main header says the archive is one of a set of volumes
    files: list[FileHeader] = field(default_factory=list)

    @property
    def split_after(self) -> bool:
        """The volume's last piece goes on in the next volume."""
        return bool(self.files) and self.files[-1].split_after


def is_rar(head: bytes) -> bool:
    return head.startswith(RAR4_SIGNATURE) or head.startswith(RAR5_SIGNATURE)


def parse_volume(reader: HeaderReader, *, tail: bool = False) -> RarVolume:
    """Read one volume's headers; refuse what cannot be streamed or is not a RAR volume.

    Without ``tail`` the parse stops where the head has said all it can (``more`` is None then,
    and a RAR4 volume's number too unless it is the first); with it, it reads to the end header.
    """
    volume = reader.volume
    head = reader.pread(0, len(RAR5_SIGNATURE))
    if not is_rar(head):
        raise ArchiveRefused(f"{volume.name} is not a RAR volume")
    version = 5 if head.startswith(RAR5_SIGNATURE) else 4
    headers: list[Any] = []

    def seen(h: Any) -> None:
        headers.append(h)
        if not tail and h.type == rarfile.RAR_BLOCK_FILE:
            left = reader.size - (h.data_offset + h.add_size)
            if h.flags & rarfile.RAR_FILE_SPLIT_AFTER or left < _MIN_FILE_HEADER[version]:
                reader.sealed = True  # what the window holds is still read: no request beyond it

    try:
        ended, encrypted = _run(reader, seen)
    finally:
        reader.sealed = False
    if encrypted and not any(h.type == rarfile.RAR_BLOCK_FILE and h.needs_password() for h in headers):
        raise ArchiveRefused("encrypted RAR headers")  # rarfile needs a password, yet no file said so
    parsed = _read_headers(volume.name, headers)
    if ended and parsed.more is None:
        parsed.more = False  # no end header (RAR 2.x): rarfile read to the end of the volume
    if any(f.offset + f.packed > reader.size for f in parsed.files):
        raise ArchiveRefused(f"truncated volume {volume.name}")
    return parsed


def _run(reader: HeaderReader, seen: Callable[[Any], None]) -> tuple[bool, bool]:
    """rarfile over the volume: (whether it read to the end, whether it needs a password)."""
    try:
        archive = rarfile.RarFile(reader, info_callback=seen, errors="strict", part_only=True)
        return True, bool(archive.needs_password())
    except Sealed:
        return False, False  # the headers seen say it (main and file flags)
    except (VolumeReadError, ArchiveRefused):
        raise
    except (rarfile.Error, struct.error, ValueError, IndexError, KeyError, OverflowError, TypeError) as exc:
        # Mangled headers make rarfile (and the struct/bytes code under it) raise all sorts.
        name = reader.volume.name
        if "EOF" in str(exc):
            raise ArchiveRefused(f"truncated volume {name}") from None
        raise ArchiveRefused(f"damaged RAR headers in {name}: {exc}") from None


def _read_headers(name: str, headers: list[Any]) -> RarVolume:
    result = RarVolume()
    for h in headers:
        if h.type == rarfile.RAR_BLOCK_MAIN:
            if h.flags & rarfile.RAR_MAIN_SOLID:
                raise ArchiveRefused("solid RAR")
            if h.flags & rarfile.RAR_MAIN_PASSWORD:
                raise ArchiveRefused("encrypted RAR headers")
            if getattr(h, "main_volume_number", None) is not None:
                result.number = int(h.main_volume_number)
            elif h.flags & rarfile.RAR_MAIN_FIRSTVOLUME:
                result.number = 0
            if not h.flags & rarfile.RAR_MAIN_VOLUME:
                result.number, result.more, result.is_volume = 0, False, False  # the one and only
        elif h.type == rarfile.RAR5_BLOCK_ENCRYPTION:
            raise ArchiveRefused("encrypted RAR headers")
        elif h.type == rarfile.RAR_BLOCK_ENDARC:
            result.more = bool(h.flags & rarfile.RAR_ENDARC_NEXT_VOLUME)
            if getattr(h, "endarc_volnr", None) is not None:
                result.number = int(h.endarc_volnr)
        elif h.type == rarfile.RAR_BLOCK_FILE and not h.is_dir():
            result.files.append(_file_header(name, h))
    return result


def _file_header(volume: str, h: Any) -> FileHeader:
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
        crypt=_crypt(volume, h) if h.needs_password() else None,
    )


def _crypt(volume: str, h: Any) -> Encryption:
    if isinstance(h, rarfile.Rar5FileInfo):
        algo, _flags, lg2count, salt, iv, check = h.file_encryption
        if algo != rarfile.RAR5_XENC_CIPHER_AES256 or len(salt) != 16 or len(iv) != 16:
            raise ArchiveRefused(f"damaged RAR headers in {volume}: encryption record")
        return Encryption(5, bytes(salt), bytes(iv), int(lg2count), bytes(check or b""))
    salt = getattr(h, "salt", None)
    if not salt or len(salt) != 8:
        raise ArchiveRefused("encrypted RAR without a salt (RAR 2.x encryption)")
    return Encryption(4, bytes(salt))
