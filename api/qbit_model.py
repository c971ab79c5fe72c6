"""What the qBittorrent Web API answers, built from import records (no Bottle here).

Field names, types and sentinel values follow qBittorrent 4.6 (API 2.9.3) and
arr-protocol.md §1.4/§1.8: the *arrs deserialise with Newtonsoft and a single
``null`` in a numeric field fails a whole poll, so every number is a number.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from gateway.config import Config
from gateway.imports.records import ImportRecord, ImportState
from gateway.imports.torrentmeta import TorrentMetaError, parse_magnet
from gateway.library.naming import sanitize, split_path

ETA_UNKNOWN = 8640000        # qBittorrent's "infinity" (100 days)
USE_GLOBAL = -2              # share limits: follow the global preference
DOWNLOADING = (ImportState.METADATA, ImportState.QUEUED, ImportState.DOWNLOADING)


@dataclass(frozen=True)
class ShareLimits:
    """Per-torrent seeding goals the *arr sent (add or setShareLimits)."""

    ratio_limit: float = USE_GLOBAL
    seeding_time_limit: int = USE_GLOBAL
    inactive_seeding_time_limit: int = USE_GLOBAL


# ------------------------------------------------------------------ torrents


def _downloaded(record: ImportRecord) -> int:
    if record.state == ImportState.COMPLETE:
        return record.selected_size
    return int(record.selected_size * max(0.0, min(record.progress, 1.0)))


def _eta(record: ImportRecord, amount_left: int) -> int:
    if record.state == ImportState.COMPLETE:
        return 0
    if record.state != ImportState.DOWNLOADING or record.speed <= 0 or amount_left <= 0:
        return ETA_UNKNOWN
    return min(ETA_UNKNOWN, amount_left // record.speed)


def _ratio(record: ImportRecord, limits: ShareLimits) -> float:
    # A debrid torrent never seeds from here: once the files are ready every
    # seeding goal counts as met, so the *arr may move the files and delete it.
    if record.state != ImportState.COMPLETE:
        return 0.0
    return max(1.0, float(limits.ratio_limit))


def _effective_ratio_limit(limits: ShareLimits) -> float:
    # "Use global" with global limits off would keep the torrent forever in the
    # *arr's eyes (never removable); report 1, as Decypharr does.
    return 1.0 if limits.ratio_limit == USE_GLOBAL else float(limits.ratio_limit)


def trackers(record: ImportRecord) -> list[str]:
    return list(_magnet_trackers(record.magnet)) if record.magnet else []


@functools.lru_cache(maxsize=32_768)
def _magnet_trackers(magnet: str) -> tuple[str, ...]:
    """Parsing a magnet is most of the cost of a torrents/info item; a magnet never changes."""
    try:
        return parse_magnet(magnet).trackers
    except TorrentMetaError:
        return ()


def magnet_uri(record: ImportRecord) -> str:
    return record.magnet or f"magnet:?xt=urn:btih:{record.hash}&dn={quote(record.name, safe='')}"


def _times(record: ImportRecord, now: float) -> dict[str, int]:
    done = record.state == ImportState.COMPLETE and record.completed_on > 0
    completed = int(record.completed_on) if done else 0
    return {
        "added_on": int(record.added_on),
        "completion_on": completed,
        "last_activity": completed or int(record.added_on),
        "seen_complete": completed,
        "seeding_time": max(0, int(now - record.completed_on)) if done else 0,
        "time_active": max(0, int(now - record.added_on)),
        "reannounce": 0,
    }


def _sizes(record: ImportRecord) -> dict[str, Any]:
    size = record.selected_size
    downloaded = _downloaded(record)
    progress = 1.0 if record.state == ImportState.COMPLETE else max(0.0, min(record.progress, 1.0))
    return {
        "size": size, "total_size": sum(f.size for f in record.files) or size,
        "progress": round(progress, 4), "amount_left": max(0, size - downloaded),
        "downloaded": downloaded, "downloaded_session": downloaded, "completed": downloaded,
        "uploaded": 0, "uploaded_session": 0,
    }


def _limits(record: ImportRecord, limits: ShareLimits) -> dict[str, Any]:
    return {
        "ratio": _ratio(record, limits),
        "ratio_limit": _effective_ratio_limit(limits),
        "seeding_time_limit": int(limits.seeding_time_limit),
        "inactive_seeding_time_limit": int(limits.inactive_seeding_time_limit),
        "max_ratio": _effective_ratio_limit(limits),
        "max_seeding_time": int(limits.seeding_time_limit),
        "max_inactive_seeding_time": int(limits.inactive_seeding_time_limit),
    }


def _constants() -> dict[str, Any]:
    """Fields qBit sends that have one honest value for a debrid torrent."""
    return {
        "upspeed": 0, "num_leechs": 0, "num_incomplete": 0, "priority": 0, "force_start": False,
        "auto_tmm": False, "seq_dl": False, "f_l_piece_prio": False, "super_seeding": False,
        "dl_limit": -1, "up_limit": -1, "isPrivate": False, "private": False, "infohash_v2": "",
        "download_path": "", "popularity": 0.0, "comment": "", "has_metadata": True,
    }


def torrent_info(record: ImportRecord, now: float, limits: ShareLimits | None = None) -> dict[str, Any]:
    """One element of ``torrents/info`` (arr-protocol §1.4: the arrs' fields and qBit's)."""
    limits = limits or ShareLimits()
    sizes = _sizes(record)
    known = trackers(record)
    downloading = record.state == ImportState.DOWNLOADING
    info: dict[str, Any] = {
        "hash": record.hash.lower(), "infohash_v1": record.hash.lower(), "name": record.name,
        "state": record.state.value, "category": record.category, "tags": ", ".join(record.tags),
        "save_path": record.save_path, "content_path": record.content_path or record.save_path,
        "root_path": record.content_path if record.content_path != record.save_path else "",
        "eta": _eta(record, sizes["amount_left"]), "magnet_uri": magnet_uri(record),
        "tracker": known[0] if known else "", "trackers_count": len(known),
        "dlspeed": record.speed if downloading else 0,
        "num_seeds": record.seeders, "num_complete": record.seeders,
        "availability": 1.0 if record.state == ImportState.COMPLETE or record.seeders else 0.0,
    }
    info.update(sizes)
    info.update(_times(record, now))
    info.update(_limits(record, limits))
    info.update(_constants())
    info["has_metadata"] = bool(record.files) or record.state != ImportState.METADATA
    return info


def torrent_properties(record: ImportRecord, now: float, limits: ShareLimits | None = None) -> dict[str, Any]:
    """``torrents/properties``: the arrs read ``save_path`` and ``seeding_time``."""
    info = torrent_info(record, now, limits)
    done = record.state == ImportState.COMPLETE
    return {
        "hash": info["hash"], "infohash_v1": info["hash"], "infohash_v2": "", "name": record.name,
        # qBittorrent has no error text on a torrent; its comment (the General tab) carries ours,
        # so a waiting import says why in any qBit client, not only on our dashboard.
        "save_path": record.save_path, "download_path": "", "comment": record.error, "created_by": "",
        "creation_date": -1, "addition_date": info["added_on"],
        "completion_date": info["completion_on"] if done else -1, "last_seen": info["seen_complete"] or -1,
        "time_elapsed": info["time_active"], "seeding_time": info["seeding_time"], "eta": info["eta"],
        "share_ratio": info["ratio"], "total_size": info["total_size"], "piece_size": -1,
        "pieces_have": 0 if info["has_metadata"] else -1, "pieces_num": 0 if info["has_metadata"] else -1,
        "total_downloaded": info["downloaded"], "total_downloaded_session": info["downloaded"],
        "total_uploaded": 0, "total_uploaded_session": 0, "total_wasted": 0,
        "dl_speed": info["dlspeed"], "dl_speed_avg": info["dlspeed"], "up_speed": 0, "up_speed_avg": 0,
        "dl_limit": -1, "up_limit": -1, "nb_connections": 0, "nb_connections_limit": 100,
        "peers": 0, "peers_total": 0, "seeds": record.seeders, "seeds_total": record.seeders,
        "reannounce": 0, "isPrivate": False, "is_private": False, "has_metadata": info["has_metadata"],
        "popularity": 0.0,
    }


def _file_root(record: ImportRecord) -> str:
    """The torrent's root folder under save_path, as the import lays it out ('' for one file)."""
    if len(record.files) == 1 and "/" not in record.files[0].path.strip("/"):
        return ""
    return sanitize(record.folder or record.name)


def torrent_files(record: ImportRecord) -> list[dict[str, Any]]:
    """``torrents/files``: names relative to save_path, '/'-separated, root folder included."""
    root = _file_root(record)
    done = record.state == ImportState.COMPLETE
    out = []
    for index, file in enumerate(record.files):
        path = "/".join(split_path(file.path))
        progress = 1.0 if done else max(0.0, min(record.progress, 1.0))
        out.append({
            "index": index, "name": f"{root}/{path}" if root else path, "size": file.size,
            "progress": round(progress if file.selected else 0.0, 4), "priority": 1 if file.selected else 0,
            "is_seed": done and file.selected, "piece_range": [0, 0],
            "availability": 1.0 if done and file.selected else 0.0,
        })
    return out


# --------------------------------------------------------------- filtering

_FILTERS: dict[str, Any] = {
    "all": lambda r: True,
    "downloading": lambda r: r.state in DOWNLOADING,
    "completed": lambda r: r.state == ImportState.COMPLETE,
    "paused": lambda r: r.state == ImportState.COMPLETE,
    "stopped": lambda r: r.state == ImportState.COMPLETE,
    "resumed": lambda r: r.state != ImportState.COMPLETE,
    "running": lambda r: r.state != ImportState.COMPLETE,
    "active": lambda r: r.state == ImportState.DOWNLOADING,
    "inactive": lambda r: r.state != ImportState.DOWNLOADING,
    "stalled_downloading": lambda r: r.state in (ImportState.METADATA, ImportState.QUEUED),
    "errored": lambda r: r.state == ImportState.ERROR,
}


def matches_filter(record: ImportRecord, name: str) -> bool:
    """qBit's ``filter=``; filters no debrid torrent can be in (seeding, checking…) match nothing."""
    if not name:
        return True
    check = _FILTERS.get(name)
    if check is None:
        return name not in ("seeding", "stalled", "stalled_uploading", "checking", "moving")
    return bool(check(record))


CLOCK_FIELDS = ("seeding_time", "time_active")


class InfoRenderer:
    """``torrents/info`` as JSON text, fast for large lists.

    Each record's JSON is rendered once and kept while the record object (the
    manager replaces it on every change) and its share limits stay the same;
    only the fields that move with the clock are written per request.
    """

    def __init__(self) -> None:
        self._cache: dict[str, tuple[ImportRecord, ShareLimits | None, str]] = {}
        self._lock = threading.Lock()

    def render(self, records: list[ImportRecord], now: float,
               limits_of: Callable[[str], ShareLimits | None]) -> str:
        parts = []
        for record in records:
            limits = limits_of(record.hash)
            static = self._static(record, limits, now)
            clock = _times(record, now)
            parts.append(f'{static},"seeding_time":{clock["seeding_time"]},"time_active":{clock["time_active"]}}}')
        self._prune(len(records))
        return "[" + ",".join(parts) + "]"

    def _static(self, record: ImportRecord, limits: ShareLimits | None, now: float) -> str:
        with self._lock:
            hit = self._cache.get(record.hash)
        if hit is not None and hit[0] is record and hit[1] is limits:
            return hit[2]
        info = torrent_info(record, now, limits)
        for name in CLOCK_FIELDS:
            del info[name]
        static = json.dumps(info, ensure_ascii=False, separators=(",", ":"))[:-1]
        with self._lock:
            self._cache[record.hash] = (record, limits, static)
        return static

    def _prune(self, live: int) -> None:
        """Deleted records leave entries behind; start over when they outnumber the live ones."""
        with self._lock:
            if len(self._cache) > 2 * live + 1000:
                self._cache.clear()


def sort_and_page(items: list[dict[str, Any]], sort: str, reverse: bool,
                  limit: int, offset: int) -> list[dict[str, Any]]:
    """``sort``/``reverse``/``limit``/``offset`` as qBit applies them (a negative offset counts from the end)."""
    if sort:
        items = sorted(items, key=lambda item: _sort_key(item.get(sort)), reverse=reverse)
    elif reverse:
        items = list(reversed(items))
    if offset < 0:
        offset = max(0, len(items) + offset)
    items = items[offset:]
    return items[:limit] if limit > 0 else items


def _sort_key(value: Any) -> tuple[int, Any]:
    # Mixed or missing values must never make sorted() raise.
    if isinstance(value, bool | int | float):
        return (0, float(value))
    return (1, str(value if value is not None else "").lower())


# ------------------------------------------------------------ preferences


def preferences(config: Config) -> dict[str, Any]:
    """``app/preferences``: the keys the arrs check (§1.4, §1.7) plus a plausible qBit set."""
    prefs: dict[str, Any] = {
        "save_path": config.download_folder, "temp_path_enabled": False, "temp_path": "",
        "dht": True, "pex": True, "lsd": True, "queueing_enabled": True,
        "max_active_downloads": config.max_active_downloads, "max_active_torrents": -1,
        "max_active_uploads": -1, "max_ratio_enabled": False, "max_ratio": -1,
        "max_seeding_time_enabled": False, "max_seeding_time": -1,
        "max_inactive_seeding_time_enabled": False, "max_inactive_seeding_time": -1,
        "max_ratio_act": 0, "auto_tmm_enabled": False, "create_subfolder_enabled": True,
        "torrent_content_layout": "Original", "start_paused_enabled": False, "add_to_top_of_queue": False,
        "preallocate_all": False, "incomplete_files_ext": False, "export_dir": "", "export_dir_fin": "",
        "scan_dirs": {}, "listen_port": 6881, "upnp": False, "random_port": False,
        "dl_limit": 0, "up_limit": 0, "alt_dl_limit": 0, "alt_up_limit": 0, "scheduler_enabled": False,
        "max_connec": 500, "max_connec_per_torrent": 100, "max_uploads": -1, "max_uploads_per_torrent": -1,
        "encryption": 0, "anonymous_mode": False, "proxy_type": "None", "ip_filter_enabled": False,
        "web_ui_port": config.port, "web_ui_address": config.bind_address, "web_ui_username": "",
        "bypass_local_auth": not config.use_auth, "bypass_auth_subnet_whitelist_enabled": False,
        "web_ui_session_timeout": 3600, "use_https": False, "locale": "en",
        "dont_count_slow_torrents": False, "slow_torrent_dl_rate_threshold": 2,
        "slow_torrent_ul_rate_threshold": 2, "slow_torrent_inactive_timer": 60,
        "add_trackers_enabled": False, "add_trackers": "", "mail_notification_enabled": False,
        "autorun_enabled": False, "autorun_program": "", "category_changed_tmm_enabled": False,
        "save_path_changed_tmm_enabled": False, "torrent_changed_tmm_enabled": False,
    }
    return prefs


def categories(entries: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``torrents/categories``: always an object keyed by name, ``savePath`` spelled qBit's way."""
    return {name: {"name": name, "savePath": path} for name, path in entries.items()}
