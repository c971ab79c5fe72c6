"""PAR2 FileDesc packets: the real names of an obfuscated release's files.

A PAR2 file is a run of packets (``PAR2\\0PKT``, a little-endian 64-bit length
of the whole packet, its MD5, the recovery set id, a 16-byte type). A
``FileDesc`` packet names one file of the set with its length and the MD5 of
its first 16 KiB, which is how a randomly named posted file is matched to its
name without reading more than its first article. Malformed input ends the
scan (never a crash, never a hang): whatever was read up to there is kept.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

MAGIC = b"PAR2\x00PKT"
FILE_DESC = b"PAR 2.0\x00FileDesc"
HEADER = 64
HASH_16K = 16 * 1024


@dataclass(frozen=True)
class FileDesc:
    name: str
    size: int
    md5_16k: bytes
    md5: bytes


def file_descs(data: bytes) -> list[FileDesc]:
    """Every distinct FileDesc packet in ``data`` (a whole PAR2 file or its first articles)."""
    found: dict[bytes, FileDesc] = {}
    position = data.find(MAGIC)
    while position >= 0 and position + HEADER <= len(data):
        length = struct.unpack_from("<Q", data, position + 8)[0]
        if length < HEADER or length % 4 or position + length > len(data):
            position = data.find(MAGIC, position + 1)   # damaged or cut off: look for the next packet
            continue
        kind = data[position + 48:position + 64]
        if kind == FILE_DESC and length >= HEADER + 56:
            body = data[position + HEADER:position + length]
            file_id, md5, md5_16k = body[:16], body[16:32], body[32:48]
            size = struct.unpack_from("<Q", body, 48)[0]
            name = body[56:].rstrip(b"\x00").decode("utf-8", "replace")
            if name and file_id not in found:
                found[file_id] = FileDesc(name.replace("\\", "/").rsplit("/", 1)[-1], size, md5_16k, md5)
        position = data.find(MAGIC, position + length)
    return list(found.values())


def head_digest(first_bytes: bytes) -> bytes:
    """The MD5 PAR2 keeps of a file's first 16 KiB (of all of it when shorter)."""
    return hashlib.md5(first_bytes[:HASH_16K]).digest()
