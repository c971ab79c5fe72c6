"""What the *arr client hands back: files the *arrs hold and the grabs behind them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MediaFile:
    """One file a Sonarr (episode file) or Radarr (movie file) has imported."""

    arr: str                       # the ArrTarget's name
    kind: str                      # "sonarr" or "radarr"
    media_id: int                  # series id (sonarr) or movie id (radarr)
    title: str                     # "Series Title S01E02" (episodes joined "S01E02E03"), or "Movie Title (2020)"
    file_id: int                   # episodeFile id or movieFile id
    path: str                      # absolute path of the file as the *arr sees it
    episode_ids: tuple[int, ...] = ()   # sonarr: the episodes this file holds
    size: int = 0


@dataclass(frozen=True)
class Grab:
    """A "grabbed" history record: which download the *arr sent for a media."""

    history_id: int
    download_id: str               # lower-cased (the *arrs store the infohash upper-case)
    date: str                      # ISO, as the *arr sent it
    media_id: int
    episode_id: int = 0
