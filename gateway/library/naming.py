"""Folder and file naming: sanitisation and stable, collision-free names."""

from __future__ import annotations

import os
import unicodedata

from gateway.models import Torrent

_FORBIDDEN = {"/": "∕", "\\": "⧵", "\x00": ""}


def sanitize(name: str) -> str:
    """One safe path segment: no '/', no NUL, never '.' or '..', never empty; NFC,
    valid UTF-8 (a lone surrogate, as JSON's "\\udc80" gives, becomes U+FFFD);
    ``sanitize(sanitize(x)) == sanitize(x)``."""
    text = name
    for bad, good in _FORBIDDEN.items():
        text = text.replace(bad, good)
    if not text.isprintable():   # rare: only then walk the characters to drop controls
        text = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text if ch >= " " or ch == "\t")
    # NFC last: dropping a control between a letter and its accent makes a new pair to compose.
    text = unicodedata.normalize("NFC", text).strip()
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
    derived from its own identity, so the name never depends on listing order."""
    buckets: dict[str, list[Torrent]] = {}
    for torrent in torrents:
        buckets.setdefault(folder_name(torrent, policy).casefold(), []).append(torrent)
    names: dict[tuple[str, str], str] = {}
    for bucket in buckets.values():
        names.update(bucket_names(bucket, policy))
    return names


def bucket_names(bucket: list[Torrent], policy: str) -> dict[tuple[str, str], str]:
    """Names for torrents whose wanted names are equal (ignoring case).

    A pure function of the bucket, so the library can rename just the bucket a
    change touches. A lone torrent keeps its name; clashing ones get
    ``[infohash8]``; the same infohash at two accounts gets ``[provider-id]``.
    """
    if len(bucket) == 1:
        return {bucket[0].key: folder_name(bucket[0], policy)}
    tokens: dict[str, int] = {}
    for torrent in bucket:
        token = torrent.infohash[:8] or torrent.id
        tokens[token] = tokens.get(token, 0) + 1
    names = {}
    for torrent in bucket:
        token = torrent.infohash[:8] or torrent.id
        if tokens[token] > 1:
            token = f"{torrent.provider}-{torrent.id}"
        names[torrent.key] = f"{folder_name(torrent, policy)} [{token}]"
    return names
