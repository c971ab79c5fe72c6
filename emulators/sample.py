"""A small, deterministic demo library (shared with the gateway's demo mode).

Names exercise the awkward cases: nested folders, non-ASCII, spaces, ``||``
and subtitle side-cars, and a film inside a stored RAR set.  Hashes are sha1 of the name, content seeds derive
from hash and path, so every run serves the same bytes.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from .archives import write_rar
from .content import file_bytes

KIB = 1024
MIB = 1024 * KIB

# Fixed base for `added` so listings are stable between runs.
_BASE_ADDED = 1_704_164_645.0  # 2024-01-02T03:04:05Z
_DAY = 86400.0

_TORRENTS: list[tuple[str, list[tuple[str, int]]]] = [
    ("Example Show S01-S02 1080p", [
        ("Season 1/Episode 1.mkv", 24 * MIB),
        ("Season 1/Episode 1.en.srt", 42 * KIB),
        ("Season 1/Episode 2.mkv", 26 * MIB + 123),
        ("Season 2/Episode 1.mkv", 22 * MIB + 4567),
    ]),
    ("Amélie (2001)", [
        ("Amélie (2001).mkv", 48 * MIB + 789),
        ("Amélie (2001).fr.srt", 61 * KIB),
    ]),
    ("千と千尋の神隠し (2001)", [
        ("千と千尋の神隠し (2001).mkv", 36 * MIB),
        ("Subs/千と千尋の神隠し.ja.srt", 55 * KIB + 7),
    ]),
    ("Spaces And || Pipes (1999) 720p", [
        ("Spaces And || Pipes (1999) 720p.mp4", 12 * MIB + 321),
        ("Sample/sample.mkv", 700 * KIB),
        ("info.nfo", 3 * KIB),
    ]),
    ("Tiny Single File.mkv", [
        ("Tiny Single File.mkv", 5 * MIB),
    ]),
]


# A scene-style release: the film stored (not compressed) in a RAR4 set of 1 MiB volumes.
ARCHIVED = "Archived Feature (2003) 1080p"
ARCHIVED_MEDIA = ("Archived Feature (2003) 1080p.mkv", 6 * MIB + 4321)


@lru_cache(maxsize=1)
def _archived_volumes() -> tuple[tuple[str, bytes], ...]:
    name, size = ARCHIVED_MEDIA
    data = file_bytes(f"{_hash(ARCHIVED)}/{name}", 0, size)
    return tuple(write_rar([(name, data)], version=4, base="archived.feature.2003", volume_data=MIB, naming="old"))


def _hash(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def sample_library() -> list[dict[str, Any]]:
    """Entries in the shape ``World.seed_library`` / ``POST /__emu/library`` take."""
    out = []
    for i, (name, files) in enumerate(_TORRENTS):
        h = _hash(name)
        out.append({
            "hash": h,
            "name": name,
            "added": _BASE_ADDED + i * _DAY,
            "files": [{"path": p, "size": s, "seed": f"{h}/{p}"} for p, s in files],
        })
    h = _hash(ARCHIVED)
    out.append({"hash": h, "name": ARCHIVED, "added": _BASE_ADDED + len(_TORRENTS) * _DAY,
                "files": [{"path": p, "data": data} for p, data in _archived_volumes()]})
    return out


def provider_extra(kind: str) -> list[dict[str, Any]]:
    """One torrent only this provider's demo account holds (so each account shows something)."""
    name = f"Demo {kind.title()} Exclusive (2024)"
    h = _hash(name)
    path = f"{name}.mkv"
    return [{"hash": h, "name": name, "added": _BASE_ADDED + 10 * _DAY,
             "files": [{"path": path, "size": 8 * MIB + len(kind), "seed": f"{h}/{path}"}]}]
