"""yEnc 1.3 encoder for article fixtures, and a pure-Python decoder used only as a test oracle.

An article body is ``=ybegin`` / ``=ypart`` / data lines / ``=yend``, lines ending in CRLF,
NOT dot-stuffed (that is the wire's job, see :mod:`emulators.usenet.wire`).

Two encoder engines give the same decoded bytes: ``sabctools`` (C, fast; what the bench's
multi-GiB releases need) and our own Python one, whose knobs (``escape_dot=False`` leaves a
leading ``.`` for NNTP dot-stuffing to double) let tests reach the wire's edge cases.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

_sabctools: ModuleType | None
try:  # the product decodes with sabctools; here it only speeds up fixture building
    import sabctools as _sabctools
except ImportError:  # pragma: no cover - the pure-Python engine still works
    _sabctools = None

LINE_LENGTH = 128
Engine = Literal["auto", "python", "sabctools"]

_SHIFT = bytes((i + 42) & 0xFF for i in range(256))
_UNSHIFT = bytes((i - 42) & 0xFF for i in range(256))
_CRITICAL = re.compile(rb"[\x00\n\r=]")
_ESCAPED = re.compile(rb"=(.)", re.DOTALL)
_TAB, _SPACE, _DOT, _EQ = 0x09, 0x20, 0x2E, 0x3D


class YencError(ValueError):
    """The body is not a well-formed single yEnc part."""


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def _escape(m: re.Match[bytes]) -> bytes:
    return bytes((_EQ, (m[0][0] + 64) & 0xFF))


def _edge_escape(byte: int) -> bytes:
    return bytes((_EQ, (byte + 64) & 0xFF))


def _encode_python(data: bytes, line_length: int, escape_dot: bool) -> bytes:
    """Shift, escape NUL/LF/CR/'=', then cut lines, never splitting an escape.

    In the escaped stream a '=' only ever starts an escape (the second byte of one is never
    '='), so a line that would end on '=' takes one more byte.
    """
    esc = _CRITICAL.sub(_escape, data.translate(_SHIFT))
    lines: list[bytes] = []
    pos, n = 0, len(esc)
    while pos < n:
        end = min(pos + line_length, n)
        if esc[end - 1] == _EQ:
            end += 1
        line = esc[pos:end]
        pos = end
        first = line[0]
        if first in (_TAB, _SPACE) or (first == _DOT and escape_dot):
            line = _edge_escape(first) + line[1:]
        last = line[-1]
        if last in (_TAB, _SPACE) and len(line) > 1:
            line = line[:-1] + _edge_escape(last)
        lines.append(line)
    return b"\r\n".join(lines)


def encode_data(data: bytes, *, line_length: int = LINE_LENGTH, engine: Engine = "auto",
                escape_dot: bool = True) -> bytes:
    """The data lines of a part, CRLF-separated, without a trailing CRLF."""
    use_c = engine == "sabctools" or (
        engine == "auto" and _sabctools is not None and line_length == LINE_LENGTH and escape_dot)
    if use_c:
        if _sabctools is None:
            raise RuntimeError("sabctools is not installed")
        if line_length != LINE_LENGTH:
            raise ValueError("sabctools encodes 128-byte lines only")
        encoded: bytes = _sabctools.yenc_encode(data)[0]
        return encoded
    return _encode_python(data, line_length, escape_dot)


def encode_part(data: bytes, *, name: str, file_size: int, part: int, total: int, begin: int,
                line_length: int = LINE_LENGTH, engine: Engine = "auto", escape_dot: bool = True,
                pcrc32: int | None = None) -> bytes:
    """One multi-part yEnc article body for ``data`` = file bytes ``[begin, begin+len)``.

    ``begin`` is the 0-based file offset; the header says 1-based inclusive as the spec does.
    ``pcrc32`` overrides the trailer's CRC (a fixture with a wrong CRC).
    """
    crc = crc32(data) if pcrc32 is None else pcrc32 & 0xFFFFFFFF
    head = (f"=ybegin part={part} total={total} line={line_length} size={file_size} name={name}\r\n"
            f"=ypart begin={begin + 1} end={begin + len(data)}\r\n")
    tail = f"=yend size={len(data)} part={part} pcrc32={crc:08x}\r\n"
    lines = encode_data(data, line_length=line_length, engine=engine, escape_dot=escape_dot)
    return head.encode("utf-8") + lines + (b"\r\n" if lines else b"") + tail.encode("ascii")


@dataclass(frozen=True)
class DecodedPart:
    """What the oracle read from one body. ``begin``/``end`` are 1-based inclusive."""

    name: str
    file_size: int
    part: int | None
    total: int | None
    begin: int
    end: int
    data: bytes
    pcrc32: int | None

    @property
    def crc_ok(self) -> bool:
        return self.pcrc32 is not None and crc32(self.data) == self.pcrc32


def _fields(line: bytes, keyword: bytes) -> dict[str, str]:
    """``key=value`` pairs of a header line; ``name`` takes the rest of the line (may hold spaces)."""
    text = line[len(keyword):].decode("utf-8", "surrogateescape")
    out: dict[str, str] = {}
    head, sep, name = text.partition(" name=")
    if sep:
        out["name"] = name
    for tok in head.split():
        key, eq, value = tok.partition("=")
        if eq:
            out[key] = value
    return out


def _int(fields: dict[str, str], key: str) -> int:
    try:
        return int(fields[key])
    except (KeyError, ValueError):
        raise YencError(f"missing or bad {key}=") from None


def _unescape(m: re.Match[bytes]) -> bytes:
    return bytes(((m[1][0] - 64) & 0xFF,))


def decode_body(body: bytes) -> DecodedPart:
    """Decode one (un-dot-stuffed) article body: slow, simple, independent of sabctools."""
    lines = body.split(b"\r\n")
    begin_at = next((i for i, ln in enumerate(lines) if ln.startswith(b"=ybegin ")), None)
    if begin_at is None:
        raise YencError("no =ybegin line")
    head = _fields(lines[begin_at], b"=ybegin")
    i = begin_at + 1
    part_f: dict[str, str] = {}
    if i < len(lines) and lines[i].startswith(b"=ypart "):
        part_f = _fields(lines[i], b"=ypart")
        i += 1
    chunks: list[bytes] = []
    trailer: dict[str, str] | None = None
    for ln in lines[i:]:
        if ln.startswith(b"=yend"):
            trailer = _fields(ln, b"=yend")
            break
        chunks.append(_ESCAPED.sub(_unescape, ln))
    if trailer is None:
        raise YencError("no =yend line")
    data = b"".join(chunks).translate(_UNSHIFT)
    begin = _int(part_f, "begin") if part_f else 1
    end = _int(part_f, "end") if part_f else len(data)
    if _int(trailer, "size") != len(data) or end - begin + 1 != len(data):
        raise YencError(f"size mismatch: decoded {len(data)} bytes")
    crc_text = trailer.get("pcrc32") or trailer.get("crc32")
    return DecodedPart(
        name=head.get("name", ""), file_size=_int(head, "size"),
        part=int(head["part"]) if "part" in head else None,
        total=int(head["total"]) if "total" in head else None,
        begin=begin, end=end, data=data,
        pcrc32=int(crc_text, 16) if crc_text else None)
