"""Torrent identity: .torrent files and magnet links to an infohash, a name, files.

Pure functions, no I/O. The infohash must be exactly the one the *arr computed
itself (arr-protocol.md §2): lower-case v1 hex, SHA-1 of the raw bytes of the
``info`` value as they appear in the file (never re-encoded: a non-canonical
file would hash differently), or the magnet's ``btih`` (hex or base32).

Also a bencoder and ``make_torrent_file`` so tests and the emulator can build
well-formed .torrent files.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import string
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

MAX_DEPTH = 64
# Longer digit runs are never legitimate and would make int() slow or refuse.
_MAX_INT_DIGITS = 64
_MAX_LEN_DIGITS = 20
_HEX = frozenset(string.hexdigits)
_BASE32 = frozenset(string.ascii_letters + "234567")   # base32 without "=" padding, either case


class TorrentMetaError(ValueError):
    """The input is not a readable .torrent file or magnet link."""


@dataclass(frozen=True)
class TorrentMeta:
    infohash: str  # lower-case v1 hex
    name: str
    files: tuple[tuple[str, int], ...]  # path relative to the torrent root, '/'-joined; size
    total_size: int
    trackers: tuple[str, ...]


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


# ------------------------------------------------------------ .torrent files


def parse_torrent_file(data: bytes) -> TorrentMeta:
    """Read a v1 or hybrid .torrent; the infohash is SHA-1 of the raw ``info`` bytes."""
    root, decoder = _decode_all(data)
    if not isinstance(root, dict):
        raise TorrentMetaError("torrent file is not a bencoded dictionary")
    info = root.get(b"info")
    if not isinstance(info, dict):
        raise TorrentMetaError("torrent file has no info dictionary")
    _require_v1(info)
    start, end = decoder.spans[b"info"]
    name = _component(_text(info, b"name", required=True))
    files = _files(info, name)
    return TorrentMeta(
        infohash=hashlib.sha1(decoder.data[start:end]).hexdigest(),
        name=name,
        files=files,
        total_size=sum(size for _, size in files),
        trackers=_trackers(root),
    )


def _require_v1(info: dict[bytes, object]) -> None:
    pieces = info.get(b"pieces")
    if pieces is None:
        if info.get(b"meta version") == 2:
            raise TorrentMetaError("v2-only torrents are not supported")
        raise TorrentMetaError("torrent info has no pieces")
    if not isinstance(pieces, bytes) or len(pieces) % 20:
        raise TorrentMetaError("torrent info has invalid pieces")


def _text(d: dict[bytes, object], key: bytes, *, required: bool = False) -> str:
    """A string field, preferring its ``.utf-8`` variant (old clients wrote both)."""
    for candidate in (key + b".utf-8", key):
        value = d.get(candidate)
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
    if required:
        raise TorrentMetaError(f"torrent info has no valid {key.decode()}")
    return ""


def _component(part: str) -> str:
    # Names become real paths under save_path later: never let one escape or nest.
    part = part.replace("/", "_").replace("\\", "_").replace("\x00", "_")
    return "_" if part in ("", ".", "..") else part


def _size(value: object) -> int:
    if not isinstance(value, int) or value < 0:
        raise TorrentMetaError("torrent file has an invalid length")
    return value


def _files(info: dict[bytes, object], name: str) -> tuple[tuple[str, int], ...]:
    has_length, has_files = b"length" in info, b"files" in info
    if has_length == has_files:
        raise TorrentMetaError("torrent info needs exactly one of length and files")
    if has_length:
        return ((name, _size(info[b"length"])),)
    entries = info[b"files"]
    if not isinstance(entries, list) or not entries:
        raise TorrentMetaError("torrent info has an invalid files list")
    files = [_file_entry(entry) for entry in entries]
    return tuple(f for f in files if f is not None)


def _file_entry(entry: object) -> tuple[str, int] | None:
    if not isinstance(entry, dict):
        raise TorrentMetaError("torrent files entry is not a dictionary")
    size = _size(entry.get(b"length"))
    attr = entry.get(b"attr")
    if isinstance(attr, bytes) and b"p" in attr:
        return None  # hybrid padding file: alignment filler, not content
    path = "/".join(_component(p.decode("utf-8", errors="replace")) for p in _path_parts(entry))
    return path, size


def _path_parts(entry: dict[bytes, object]) -> list[bytes]:
    for key in (b"path.utf-8", b"path"):
        parts = entry.get(key)
        if isinstance(parts, list) and parts and all(isinstance(p, bytes) for p in parts):
            return parts
    raise TorrentMetaError("torrent files entry has an invalid path")


def _trackers(root: dict[bytes, object]) -> tuple[str, ...]:
    # Trackers are advisory: skip malformed entries rather than refuse the torrent.
    found: list[object] = [root.get(b"announce")]
    tiers = root.get(b"announce-list")
    if isinstance(tiers, list):
        for tier in tiers:
            found.extend(tier if isinstance(tier, list) else [tier])
    urls = (t.decode("utf-8", errors="replace").strip() for t in found if isinstance(t, bytes))
    return tuple(dict.fromkeys(u for u in urls if u))


def make_torrent_file(name: str, files: list[tuple[str, int]], piece_length: int = 262144,
                      seed: str = "", *, trackers: Sequence[str] = ()) -> bytes:
    """Build a well-formed v1 .torrent (fake piece hashes); ``seed`` varies the infohash.

    One file whose path equals ``name`` makes a single-file torrent; anything
    else is multi-file with '/'-separated paths under ``name``.
    """
    if piece_length <= 0:
        raise ValueError("piece_length must be positive")
    total = sum(size for _, size in files)
    count = math.ceil(total / piece_length)
    info: dict[str, object] = {
        "name": name,
        "piece length": piece_length,
        "pieces": b"".join(hashlib.sha1(f"{seed}:{i}".encode()).digest() for i in range(count)),
    }
    if len(files) == 1 and files[0][0] == name:
        info["length"] = files[0][1]
    else:
        info["files"] = [{"length": size, "path": path.split("/")} for path, size in files]
    root: dict[str, object] = {"info": info}
    if trackers:
        root["announce"] = trackers[0]
        root["announce-list"] = [[t] for t in trackers]
    return bencode(root)


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
            infohash = _btih(value[9:])
        elif field == "dn" and not name:
            name = value
        elif field == "tr" and value:
            trackers.append(value)
    if not infohash:
        raise TorrentMetaError("magnet link has no btih infohash")
    return Magnet(infohash=infohash, name=name, trackers=tuple(dict.fromkeys(trackers)), uri=uri)


def _btih(value: str) -> str:
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


def magnet_from_meta(meta: TorrentMeta) -> str:
    """A magnet link for a parsed .torrent: hash, name and trackers."""
    parts = [f"xt=urn:btih:{meta.infohash}", f"dn={quote(meta.name, safe='')}"]
    parts += [f"tr={quote(t, safe='')}" for t in meta.trackers]
    return "magnet:?" + "&".join(parts)
