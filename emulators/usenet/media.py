"""Deterministic release content: a Matroska-looking media file and small side files."""

from __future__ import annotations

from ..content import file_bytes
from .release import LazyFile

# EBML header of a Matroska file (DocType "matroska"), then a Segment element of unknown
# size: enough for a sniffer to call it video; the rest is generated noise.
MKV_HEADER = bytes.fromhex(
    "1a45dfa3" "a3" "4286" "81" "01" "42f7" "81" "01" "42f2" "81" "04" "42f3" "81" "08"
    "4282" "88") + b"matroska" + bytes.fromhex("4287" "81" "04" "4285" "81" "02"
                                              "18538067" "01ffffffffffffff")


def media_bytes(seed: str, size: int) -> bytes:
    """``size`` bytes starting with :data:`MKV_HEADER`; byte i beyond it is ``file_bytes(seed)``'s."""
    head = MKV_HEADER[:size]
    return head + file_bytes(seed, len(head), size - len(head))


def media_range(seed: str, size: int, offset: int, length: int) -> bytes:
    """Bytes ``[offset, offset+length)`` of ``media_bytes(seed, size)`` without building it all."""
    end = min(size, offset + length)
    if offset >= end:
        return b""
    head = MKV_HEADER[offset:min(end, len(MKV_HEADER))] if offset < len(MKV_HEADER) else b""
    start = offset + len(head)
    return head + file_bytes(seed, start, end - start)


def lazy_media(name: str, size: int, seed: str | None = None) -> LazyFile:
    """A media file of any size for :func:`build_release`, generated as it is served."""
    key = name if seed is None else seed
    return LazyFile(name=name, size=size, read=lambda off, n: media_range(key, size, off, n))


def nfo_bytes(name: str) -> bytes:
    return f"{name}\r\nPosted by the decypharr NNTP emulator.\r\n".encode()
