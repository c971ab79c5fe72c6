"""A PAR2 index file (Main, FileDesc and Creator packets; no recovery data, no IFSC).

Enough for a reader to deobfuscate a release: each FileDesc packet gives a file's real
name, size, MD5 and the MD5 of its first 16 KiB (PAR2 spec 2.0, "Parity Volume Set
Specification v2.0"). All integers are little-endian.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

MAGIC = b"PAR2\x00PKT"
TYPE_MAIN = b"PAR 2.0\x00Main\x00\x00\x00\x00"
TYPE_FILEDESC = b"PAR 2.0\x00FileDesc"
TYPE_CREATOR = b"PAR 2.0\x00Creator\x00"
HEAD_16K = 16384
_HEADER = struct.Struct("<8sQ16s16s16s")   # magic, length, packet md5, set id, type


@dataclass(frozen=True)
class Par2File:
    name: str
    size: int
    md5: bytes       # of the whole file
    md5_16k: bytes   # of its first 16 KiB (or the whole file when shorter)

    @property
    def file_id(self) -> bytes:
        """MD5(md5_16k + size as u64 + name): the spec's File ID."""
        return hashlib.md5(self.md5_16k + struct.pack("<Q", self.size) + self.name.encode()).digest()


def par2_file(name: str, data: bytes) -> Par2File:
    return Par2File(name=name, size=len(data), md5=hashlib.md5(data).digest(),
                    md5_16k=hashlib.md5(data[:HEAD_16K]).digest())


def _pad4(raw: bytes) -> bytes:
    return raw + b"\x00" * (-len(raw) % 4)


def packet(set_id: bytes, kind: bytes, body: bytes) -> bytes:
    """One packet: header (its MD5 covers set id, type and body) + the 4-aligned body."""
    body = _pad4(body)
    signed = set_id + kind + body
    return _HEADER.pack(MAGIC, _HEADER.size + len(body), hashlib.md5(signed).digest(),
                        set_id, kind) + body


def par2_index(files: Sequence[Par2File], *, slice_size: int = 716_800,
               creator: str = "decypharr NNTP emulator") -> bytes:
    """The bytes of ``<release>.par2`` for ``files`` (all in the recovery set)."""
    if slice_size <= 0 or slice_size % 4:
        raise ValueError("the PAR2 slice size must be a positive multiple of 4")
    ids = sorted(f.file_id for f in files)
    main_body = struct.pack("<QI", slice_size, len(ids)) + b"".join(ids)
    set_id = hashlib.md5(main_body).digest()
    out = [packet(set_id, TYPE_MAIN, main_body)]
    for f in files:
        desc = f.file_id + f.md5 + f.md5_16k + struct.pack("<Q", f.size) + f.name.encode()
        out.append(packet(set_id, TYPE_FILEDESC, desc))
    out.append(packet(set_id, TYPE_CREATOR, creator.encode()))
    return b"".join(out)
