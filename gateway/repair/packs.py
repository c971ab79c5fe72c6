"""Packs in repair: one broken episode of a torrent that holds many (a season pack, "Complete Series").

A pack is one infohash holding several media files. Repair works per *arr file, so without care
one broken episode would cost the whole pack: re-adding an infohash first deletes the broken
copy at its account, and marking its grab failed makes the *arr blocklist the release and search
every episode of it again. The rules here:

- a healthy copy of the infohash that holds the episode's file (another account, another placement)
  is relinked to; nothing is deleted or added;
- a healthy copy that plays but cannot serve this episode (the link points at a path the pack does
  not hold, the CDN refuses that one file) is kept: re-adding the same infohash would bring back the
  same files, so only the episode is replaced (the *arr deletes its file and searches that episode),
  and the pack's grab is not marked failed;
- only when no copy of the infohash is healthy is it re-added (its broken copy deleted to make room).

A file is found in a copy by its path inside the torrent, else by its name; for a pack never by
size, which would point the episode at a neighbour.
"""

from __future__ import annotations

import os

from gateway.imports.actions import MEDIA_TYPES
from gateway.library.snapshot import Snapshot
from gateway.models import Torrent, TorrentStatus
from gateway.repair.jobs import Item


def media_files(torrent: Torrent) -> int:
    return sum(1 for f in torrent.files if f.selected and f.path.rsplit(".", 1)[-1].lower() in MEDIA_TYPES)


def is_pack(torrent: Torrent) -> bool:
    return media_files(torrent) > 1


def file_in(torrent: Torrent, item: Item) -> str:
    """The item's file inside ``torrent`` (its path there), or "" when the torrent does not hold it."""
    paths = [f.path for f in torrent.files if f.selected]
    if item.torrent_file in paths:
        return item.torrent_file
    names = {os.path.basename(item.file_path), os.path.basename(item.torrent_file)} - {""}
    same = [p for p in paths if os.path.basename(p) in names]
    if same:
        return same[0]
    if is_pack(torrent):
        return ""
    largest = max((f for f in torrent.files if f.selected), key=lambda f: f.size, default=None)
    return largest.path if largest else ""


def healthy_copies(snapshot: Snapshot, infohash: str) -> list[Torrent]:
    """Every complete copy of the infohash the library does not hold for bad, best placement first."""
    keys = snapshot.placements.get(infohash) or tuple(
        t.key for t in snapshot.torrents.values() if t.infohash == infohash)
    out = []
    for key in keys:
        torrent = snapshot.torrents.get(key)
        if torrent is not None and torrent.status == TorrentStatus.DOWNLOADED and torrent.files \
                and key not in snapshot.bad:
            out.append(torrent)
    return out


def playing_pack(snapshot: Snapshot, infohash: str) -> Torrent | None:
    """A healthy copy of the infohash that is a pack: its other episodes play."""
    return next((t for t in healthy_copies(snapshot, infohash) if is_pack(t)), None) if infohash else None
