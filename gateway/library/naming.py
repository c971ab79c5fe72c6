"""Folder and file naming: sanitisation and stable, collision-free names."""

from __future__ import annotations

import os
import unicodedata

from gateway.models import Torrent

_FORBIDDEN = {"/": "∕", "\\": "⧵", "\x00": ""}


def sanitize(name: str) -> str:
    """One safe path segment: no '/', no NUL, never '.' or '..', never empty."""
    text = unicodedata.normalize("NFC", name)
    for bad, good in _FORBIDDEN.items():
        text = text.replace(bad, good)
    if not text.isprintable():   # rare: only then walk the characters to drop controls
        text = "".join(ch for ch in text if ch >= " " or ch == "\t")
    text = text.strip()
    if text in ("", ".", ".."):
        return text.replace(".", "_") or "_"
    return text


def split_path(path: str) -> list[str]:
    """A torrent file path → sanitised segments (the torrent's own sub-folders)."""
    return [sanitize(part) for part in path.replace("\\", "/").split("/") if part not in ("", ".")]


def folder_name(torrent: Torrent, policy: str) -> str:
    """The torrent folder name under ``folder_naming``."""
    if policy == "infohash" and torrent.infohash:
        return torrent.infohash
    original = policy.startswith("original")
    base = (torrent.original_name or torrent.name) if original else (torrent.name or torrent.original_name)
    if policy.endswith("_no_ext"):
        stem, ext = os.path.splitext(base)
        base = stem if stem and 1 < len(ext) <= 5 else base
    return sanitize(base or torrent.id)


def unique_names(torrents: list[Torrent], policy: str) -> dict[tuple[str, str], str]:
    """Names for every torrent; on a clash each clashing torrent gets a suffix
    derived from its own identity, so the name never depends on what else
    exists or on listing order."""
    wanted = {t.key: folder_name(t, policy) for t in torrents}
    counts: dict[str, int] = {}
    for name in wanted.values():
        counts[name.casefold()] = counts.get(name.casefold(), 0) + 1
    names: dict[tuple[str, str], str] = {}
    for torrent in torrents:
        name = wanted[torrent.key]
        if counts[name.casefold()] > 1:
            name = f"{name} [{torrent.infohash[:8] or torrent.id}]"
        names[torrent.key] = name
    _second_pass(torrents, names)
    return names


def _second_pass(torrents: list[Torrent], names: dict[tuple[str, str], str]) -> None:
    """The same infohash at two providers still clashes: add the provider."""
    seen: dict[str, tuple[str, str]] = {}
    for torrent in sorted(torrents, key=lambda t: t.key):
        folded = names[torrent.key].casefold()
        if folded in seen:
            names[torrent.key] = f"{names[torrent.key]} [{torrent.provider}-{torrent.id}]"
        seen[names[torrent.key].casefold()] = torrent.key
