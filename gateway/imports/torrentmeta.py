"""Torrent metadata: .torrent files to a name, files and trackers; magnets back from them.

Pure functions, no I/O. The identity itself (bencode, the infohash of the raw ``info``
span, magnet btihs) lives in ``gateway.torrentid``, below every layer, and is re-exported
here for the callers that read both.

Also ``make_torrent_file`` so tests can build well-formed .torrent files.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from gateway.torrentid import Magnet, TorrentMetaError, bdecode, bdecode_spans, bencode, parse_magnet

__all__ = [
    "Magnet", "TorrentMeta", "TorrentMetaError", "bdecode", "bencode", "magnet_from_meta",
    "make_torrent_file", "parse_magnet", "parse_torrent_file",
]


@dataclass(frozen=True)
class TorrentMeta:
    infohash: str  # lower-case v1 hex
    name: str
    files: tuple[tuple[str, int], ...]  # path relative to the torrent root, '/'-joined; size
    total_size: int
    trackers: tuple[str, ...]


# ------------------------------------------------------------ .torrent files


def parse_torrent_file(data: bytes) -> TorrentMeta:
    """Read a v1 or hybrid .torrent; the infohash is SHA-1 of the raw ``info`` bytes."""
    root, spans = bdecode_spans(data)
    if not isinstance(root, dict):
        raise TorrentMetaError("torrent file is not a bencoded dictionary")
    info = root.get(b"info")
    if not isinstance(info, dict):
        raise TorrentMetaError("torrent file has no info dictionary")
    _require_v1(info)
    name = _component(_text(info, b"name", required=True))
    files = _files(info, name)
    return TorrentMeta(
        infohash=hashlib.sha1(spans[b"info"]).hexdigest(),
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


def magnet_from_meta(meta: TorrentMeta) -> str:
    """A magnet link for a parsed .torrent: hash, name and trackers."""
    parts = [f"xt=urn:btih:{meta.infohash}", f"dn={quote(meta.name, safe='')}"]
    parts += [f"tr={quote(t, safe='')}" for t in meta.trackers]
    return "magnet:?" + "&".join(parts)
