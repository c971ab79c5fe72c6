"""Torrent identity, the bottom of the house: bencode, the infohash of a .torrent, magnet btihs.

Pure functions, no I/O, no imports from the rest of the product, so every layer can use
them: imports (reading what the *arr sends), providers (the hash of what they upload) and
the emulators (which play the providers and may import this module and nothing else of
the product; see the ``emulators-standalone`` contract in pyproject.toml).

The infohash must be exactly the one the *arr computed itself (arr-protocol.md §2):
lower-case v1 hex, SHA-1 of the raw bytes of the ``info`` value as they appear in the
file (never re-encoded: a non-canonical file would hash differently), or the magnet's
``btih`` (hex or base32).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import string
from dataclasses import dataclass
from urllib.parse import parse_qsl

MAX_DEPTH = 64
# Longer digit runs are never legitimate and would make int() slow or refuse.
_MAX_INT_DIGITS = 64
_MAX_LEN_DIGITS = 20
_HEX = frozenset(string.hexdigits)
_BASE32 = frozenset(string.ascii_letters + "234567")   # base32 without "=" padding, either case



class TorrentMetaError(ValueError):
    """The input is not a readable .torrent file or magnet link."""


@dataclass(frozen=True)
class Magnet:
    infohash: str  # lower-case v1 hex
    name: str  # the ``dn``, or "" when the link has none
    trackers: tuple[str, ...]
    uri: str


# ------------------------------------------------------------------ bdecode


class _Decoder:
    """Strict bencode reader over one buffer; records byte spans of top-level dict values."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.spans: dict[bytes, tuple[int, int]] = {}

    def decode(self, pos: int, depth: int) -> tuple[object, int]:
        if pos >= len(self.data):
            raise TorrentMetaError("truncated bencode data")
        lead = self.data[pos]
        if lead == ord("i"):
            return self._int(pos)
        if ord("0") <= lead <= ord("9"):
            return self._bytes(pos)
        if lead in (ord("l"), ord("d")):
            if depth >= MAX_DEPTH:
                raise TorrentMetaError(f"bencode nesting deeper than {MAX_DEPTH}")
            return self._list(pos, depth + 1) if lead == ord("l") else self._dict(pos, depth + 1)
        raise TorrentMetaError(f"invalid bencode byte {lead:#04x} at offset {pos}")

    def _int(self, pos: int) -> tuple[int, int]:
        end = self.data.find(b"e", pos + 1, pos + 2 + _MAX_INT_DIGITS + 1)
        if end < 0:
            raise TorrentMetaError(f"unterminated or oversized integer at offset {pos}")
        text = self.data[pos + 1:end]
        digits = text[1:] if text.startswith(b"-") else text
        if not digits.isdigit():
            raise TorrentMetaError(f"invalid integer at offset {pos}")
        if digits.startswith(b"0") and (len(digits) > 1 or text.startswith(b"-")):
            raise TorrentMetaError(f"non-canonical integer (leading zero or -0) at offset {pos}")
        return int(text), end + 1

    def _bytes(self, pos: int) -> tuple[bytes, int]:
        colon = self.data.find(b":", pos, pos + _MAX_LEN_DIGITS + 1)
        if colon < 0:
            raise TorrentMetaError(f"invalid or truncated string length at offset {pos}")
        digits = self.data[pos:colon]
        if not digits.isdigit() or (digits.startswith(b"0") and len(digits) > 1):
            raise TorrentMetaError(f"invalid string length at offset {pos}")
        start = colon + 1
        end = start + int(digits)
        if end > len(self.data):
            raise TorrentMetaError(f"string at offset {pos} runs past the end of the data")
        return self.data[start:end], end

    def _list(self, pos: int, depth: int) -> tuple[list[object], int]:
        items: list[object] = []
        pos += 1
        while self._peek(pos) != ord("e"):
            item, pos = self.decode(pos, depth)
            items.append(item)
        return items, pos + 1

    def _dict(self, pos: int, depth: int) -> tuple[dict[bytes, object], int]:
        top = depth == 1
        result: dict[bytes, object] = {}
        pos += 1
        while self._peek(pos) != ord("e"):
            if not ord("0") <= self.data[pos] <= ord("9"):
                raise TorrentMetaError(f"dictionary key at offset {pos} is not a string")
            key, pos = self._bytes(pos)
            if key in result:
                # Two values for one key: which one a client hashes is anyone's guess.
                raise TorrentMetaError(f"duplicate dictionary key {key!r}")
            start = pos
            result[key], pos = self.decode(pos, depth)
            if top:
                self.spans[key] = (start, pos)
        return result, pos + 1

    def _peek(self, pos: int) -> int:
        if pos >= len(self.data):
            raise TorrentMetaError("truncated bencode data")
        return self.data[pos]


def _decode_all(data: bytes) -> tuple[object, _Decoder]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TorrentMetaError("bencode input must be bytes")
    decoder = _Decoder(bytes(data))
    value, end = decoder.decode(0, 0)
    if end != len(decoder.data):
        raise TorrentMetaError(f"trailing data after bencode value at offset {end}")
    return value, decoder


def bdecode(data: bytes) -> object:
    """Decode one bencoded value: int, bytes, list or dict (bytes keys); strict."""
    return _decode_all(data)[0]


def bdecode_spans(data: bytes) -> tuple[object, dict[bytes, bytes]]:
    """The decoded value and, for a top-level dict, each key's raw value bytes as in ``data``."""
    value, decoder = _decode_all(data)
    return value, {key: decoder.data[start:end] for key, (start, end) in decoder.spans.items()}


def info_hash(data: bytes) -> str:
    """The v1 infohash of a .torrent: SHA-1 of its raw ``info`` value, lower-case hex."""
    root, spans = bdecode_spans(data)
    if not isinstance(root, dict) or not isinstance(root.get(b"info"), dict):
        raise TorrentMetaError("torrent file has no info dictionary")
    return hashlib.sha1(spans[b"info"]).hexdigest()


# ------------------------------------------------------------------ bencode


def bencode(obj: object) -> bytes:
    """Encode int, bytes, str (UTF-8), list/tuple and dict (str or bytes keys, sorted)."""
    out: list[bytes] = []
    _encode(obj, out)
    return b"".join(out)


def _encode(obj: object, out: list[bytes]) -> None:
    if isinstance(obj, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(obj, int):
        out.append(b"i%de" % obj)
    elif isinstance(obj, bytes | str):
        raw = obj.encode() if isinstance(obj, str) else obj
        out.append(b"%d:%s" % (len(raw), raw))
    elif isinstance(obj, list | tuple):
        out.append(b"l")
        for item in obj:
            _encode(item, out)
        out.append(b"e")
    elif isinstance(obj, dict):
        items = sorted(((k.encode() if isinstance(k, str) else k), v) for k, v in obj.items())
        out.append(b"d")
        for key, value in items:
            _encode(key, out)
            _encode(value, out)
        out.append(b"e")
    else:
        raise TypeError(f"cannot bencode {type(obj).__name__}")


# ---------------------------------------------------------------- magnets


def parse_magnet(uri: str) -> Magnet:
    """Read a magnet link's v1 infohash (hex or base32), ``dn`` and ``tr`` list."""
    if not isinstance(uri, str):
        raise TorrentMetaError("magnet link must be a string")
    uri = uri.strip()
    if uri[:8].lower() != "magnet:?":
        raise TorrentMetaError("not a magnet link")
    infohash, name, trackers = "", "", []
    for key, value in parse_qsl(uri[8:], keep_blank_values=True):
        field = key.lower().split(".", 1)[0]  # "xt.1", "xt.2" are allowed spellings
        if field == "xt" and not infohash and value[:9].lower() == "urn:btih:":
            infohash = btih(value[9:])
        elif field == "dn" and not name:
            name = value
        elif field == "tr" and value:
            trackers.append(value)
    if not infohash:
        raise TorrentMetaError("magnet link has no btih infohash")
    return Magnet(infohash=infohash, name=name, trackers=tuple(dict.fromkeys(trackers)), uri=uri)


def btih(value: str) -> str:
    """A btih (40 hex or 32 unpadded base32 characters, either case) as lower-case hex."""
    if len(value) == 40 and all(c in _HEX for c in value):
        return value.lower()
    # 32 unpadded base32 characters are exactly 160 bits; "=" padding would decode to
    # fewer than 20 bytes and make a short "infohash" no client ever computes.
    if len(value) == 32 and all(c in _BASE32 for c in value):
        try:
            return base64.b32decode(value.upper()).hex()
        except (binascii.Error, ValueError):
            pass
    raise TorrentMetaError("magnet link has an invalid btih infohash")
