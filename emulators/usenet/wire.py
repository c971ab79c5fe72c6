"""NNTP multi-line block framing (RFC 3977 §3.1.1): dot-stuffing and its inverse."""

from __future__ import annotations

TERMINATOR = b".\r\n"


def dot_stuff(block: bytes) -> bytes:
    """Double every leading '.' of a CRLF-lined block and end it with CRLF if it does not."""
    if block and not block.endswith(b"\r\n"):
        block += b"\r\n"
    stuffed = block.replace(b"\r\n.", b"\r\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


def dot_unstuff(block: bytes) -> bytes:
    """Undo :func:`dot_stuff` on a block received without its terminating ``.\\r\\n``."""
    out = block.replace(b"\r\n..", b"\r\n.")
    return out[1:] if out.startswith(b"..") else out
