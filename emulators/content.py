"""Deterministic file content for the emulated CDN.

Bytes are generated, never stored: byte ``i`` of a file is a pure function of
``(seed, i)``, so tests can check any range read byte-for-byte without
fixtures.  Content is produced per 64 KiB block so a range read only costs the
blocks it touches; a small LRU keeps hot blocks (sequential streams re-read
the block straddling two chunks, and repeated benchmark reads hit the cache).
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from collections.abc import Iterator
from functools import lru_cache

BLOCK_SIZE = 65536
STREAM_CHUNK = 256 * 1024

# Extensions the stdlib table may not know on a minimal system.
_EXTRA_TYPES = {
    ".mkv": "video/x-matroska",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".avi": "video/x-msvideo",
    ".ts": "video/mp2t",
    ".webm": "video/webm",
    ".srt": "application/x-subrip",
    ".ass": "text/x-ssa",
    ".nfo": "text/plain",
    ".rar": "application/vnd.rar",
}

_VIDEO_EXTS = frozenset({".mkv", ".mp4", ".m4v", ".avi", ".ts", ".webm", ".mov", ".wmv"})


@lru_cache(maxsize=256)
def _pad(seed: str) -> bytes:
    """One 64 KiB pseudo-random block per file."""
    return hashlib.shake_128(seed.encode("utf-8", "surrogatepass")).digest(BLOCK_SIZE)


@lru_cache(maxsize=64)
def _block(seed: str, block_no: int) -> bytes:
    """The file's pad pushed through a byte table of this block's own.

    Hashing 64 KiB per block ran the CDN at about 460 MB/s, so in benchmarks
    the emulator took the CPU the gateway was being measured on; a
    ``translate`` runs at memory speed and still makes every block differ.
    """
    table = hashlib.shake_128(f"{seed}:{block_no}".encode("utf-8", "surrogatepass")).digest(256)
    return _pad(seed).translate(table)


def file_bytes(seed: str, offset: int, length: int) -> bytes:
    """Bytes ``[offset, offset+length)`` of the generated file named by ``seed``."""
    if length <= 0:
        return b""
    first = offset // BLOCK_SIZE
    last = (offset + length - 1) // BLOCK_SIZE
    start = offset - first * BLOCK_SIZE
    if first == last:
        return _block(seed, first)[start : start + length]
    parts: list[bytes | memoryview] = [memoryview(_block(seed, first))[start:]]
    parts.extend(_block(seed, n) for n in range(first + 1, last))
    tail = offset + length - last * BLOCK_SIZE
    parts.append(memoryview(_block(seed, last))[:tail])
    return b"".join(parts)


def iter_file_bytes(
    seed: str, offset: int, length: int, chunk: int = STREAM_CHUNK
) -> Iterator[bytes]:
    """Yield the range in ``chunk``-sized pieces so big files never sit in memory."""
    end = offset + length
    pos = offset
    while pos < end:
        # Align pieces to block boundaries after the first so each block is
        # generated once per stream.
        step = min(chunk - (pos % BLOCK_SIZE), end - pos)
        yield file_bytes(seed, pos, step)
        pos += step


# Files whose bytes are given (an archive volume written by emulators/archives.py), by digest:
# a catalog file's ``source_path`` is then ``mem:<digest>``. Content-addressed, so emulators in
# one process may share them.
_BLOBS: dict[str, bytes] = {}
MEM = "mem:"


def hold_bytes(data: bytes) -> str:
    """Keep ``data`` and return the ``source_path`` that serves it."""
    key = hashlib.sha1(data).hexdigest()
    _BLOBS[key] = data
    return MEM + key


def read_source(path: str, offset: int, length: int) -> bytes:
    """Bytes of a real local file (e.g. a tiny media file that ffprobe can parse), or held bytes."""
    if length <= 0:
        return b""
    if path.startswith(MEM):
        return _BLOBS[path[len(MEM):]][offset : offset + length]
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(length)


def iter_source(path: str, offset: int, length: int, chunk: int = STREAM_CHUNK) -> Iterator[bytes]:
    if path.startswith(MEM):
        held = memoryview(_BLOBS[path[len(MEM):]])
        for pos in range(offset, min(offset + length, len(held)), chunk):
            yield bytes(held[pos : min(pos + chunk, offset + length)])
        return
    with open(path, "rb") as fh:
        fh.seek(offset)
        remaining = length
        while remaining > 0:
            data = fh.read(min(chunk, remaining))
            if not data:
                return
            remaining -= len(data)
            yield data


def source_size(path: str) -> int:
    if path.startswith(MEM):
        return len(_BLOBS[path[len(MEM):]])
    return os.path.getsize(path)


def iter_content(
    seed: str, source_path: str | None, offset: int, length: int, chunk: int = STREAM_CHUNK
) -> Iterator[bytes]:
    if source_path:
        return iter_source(source_path, offset, length, chunk)
    return iter_file_bytes(seed, offset, length, chunk)


def mime_type(name: str) -> str:
    ext = os.path.splitext(name)[1].lower()
    if ext in _EXTRA_TYPES:
        return _EXTRA_TYPES[ext]
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def is_video(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in _VIDEO_EXTS
