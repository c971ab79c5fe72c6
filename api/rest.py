"""The seed's REST endpoints: config, torrents, add, delete, arrs (a thin view over the imports)."""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from typing import Any

import bottle

from api.auth import read_json
from api.responses import ApiError, json_body
from api.web import api_errors
from gateway.arr.registry import ArrRegistry
from gateway.config import Config, live_keys, masked_raw, parse_config, read_raw, write_raw
from gateway.errors import ConfigError
from gateway.imports.fetch import fetch_torrent_url
from gateway.imports.manager import ImportManager
from gateway.imports.nzb import NzbError, job_name, looks_like_nzb
from gateway.imports.records import AddRequest, ImportRecord
from gateway.imports.torrentmeta import TorrentMetaError
from gateway.providers import MODULES, capabilities_of

log = logging.getLogger(__name__)

# The services that take NZBs, from the registry: "torbox or premiumize".
NZB_PROVIDERS = " or ".join(name for name in MODULES if capabilities_of(name).usenet)
TRUE = ("1", "true", "yes", "on")


def record_json(record: ImportRecord) -> dict[str, Any]:
    return {"hash": record.hash, "name": record.name, "category": record.category, "state": record.state.value,
            "progress": round(record.progress, 4), "size": record.selected_size, "error": record.error,
            "provider": record.provider, "provider_id": record.provider_id, "action": record.action,
            "added_on": int(record.added_on), "completed_on": int(record.completed_on),
            "save_path": record.save_path, "content_path": record.content_path, "kind": record.kind,
            "attempts": [{"provider": p, "outcome": o} for p, o in record.provider_attempts],
            "files": [{"path": f.path, "size": f.size, "selected": f.selected} for f in record.files]}


def _bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).lower() in TRUE


def split_hashes(raw: str) -> list[str]:
    return [h.strip().lower() for h in raw.replace("|", ",").split(",") if h.strip()]


# ----------------------------------------------------------------- config

def _merge(stored: Any, posted: Any) -> Any:
    """Deep-merge objects; a masked secret posted back keeps the stored value."""
    if isinstance(stored, dict) and isinstance(posted, dict):
        out = dict(stored)
        for key, value in posted.items():
            out[key] = _merge(stored.get(key), value)
        return out
    if isinstance(stored, list) and isinstance(posted, list):
        return [_merge(stored[i] if i < len(stored) else None, v) for i, v in enumerate(posted)]
    if isinstance(posted, str) and posted.startswith("****") and isinstance(stored, str) \
            and stored.endswith(posted[4:]):
        return stored
    return posted


LIVE_KEYS = live_keys(Config)   # applied at once (the schema's ``now``); every other key at the next start
Apply = Callable[[Config, set[str]], None]


def post_config(config: Config, apply: Apply) -> Any:
    posted = read_json(bottle.request)
    merged = _merge(read_raw(config.config_dir), posted)
    try:
        fresh = parse_config(merged, config.config_dir)
    except ConfigError as exc:
        raise ApiError(400, str(exc)) from None
    write_raw(config.config_dir, merged)
    live = {key for key in posted if key in LIVE_KEYS}
    apply(fresh, set(posted))   # a changed debrid API key is used (and probed) at once too
    later = sorted(set(posted) - live)
    log.info("config updated (keys: %s)%s", ", ".join(sorted(posted)),
             f"; {', '.join(later)} take effect at the next start" if later else "")
    answer = json_body(masked_raw(merged))
    answer.set_header("X-Restart-Needed", ",".join(later))
    return answer


# -------------------------------------------------------------------- add

def _file_request(name: str, data: bytes, base: dict[str, Any], takes_nzbs: bool, url: str = "") -> AddRequest:
    """A .torrent or an NZB, told apart by name and content."""
    if not looks_like_nzb(name, data):
        return AddRequest(torrent_file=data, **base)
    if not takes_nzbs:
        raise ApiError(400, f"{name}: NZBs need a usenet account ({NZB_PROVIDERS}) in debrids; none is configured")
    return AddRequest(nzb=data, nzb_file_name=job_name(name), nzb_url=url, **base)


def _requests_from_upload(base: dict[str, Any], takes_nzbs: bool) -> list[AddRequest]:
    return [_file_request(upload.raw_filename or "upload", upload.file.read(), base, takes_nzbs)
            for upload in bottle.request.files.getall("file")]


def _requests_from_urls(urls: list[str], base: dict[str, Any], takes_nzbs: bool) -> list[AddRequest]:
    out = []
    for url in urls:
        if url.startswith("magnet:"):
            out.append(AddRequest(magnet=url, **base))
        elif url.startswith(("http://", "https://")):
            name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]) or "download"
            out.append(_file_request(name, fetch_torrent_url(url), base, takes_nzbs, url))
        else:
            raise ApiError(400, f"not a magnet or http(s) link: {url[:80]}")
    return out


def post_add(manager: ImportManager, config: Config) -> Any:
    request = bottle.request
    is_json = "json" in (request.content_type or "")
    data = read_json(request) if is_json else {k: request.forms.getunicode(k) for k in request.forms}
    action = data.get("action") or ""
    if action and action not in ("symlink", "strm", "download", "none"):
        raise ApiError(400, "action must be symlink, strm, download or none")
    debrid = str(data.get("debrid") or "")
    if debrid and config.debrid(debrid) is None:
        raise ApiError(400, f"no configured debrid named {debrid!r}")
    base = {"category": str(data.get("category") or data.get("arr") or ""), "action": str(action),
            "debrid": debrid, "download_uncached": _bool(data.get("download_uncached"))}
    urls = [str(data["url"])] if data.get("url") else []
    urls += [u.strip() for u in str(data.get("urls") or "").splitlines() if u.strip()]
    try:
        nzbs = manager.takes_nzbs()
        adds = ([] if is_json else _requests_from_upload(base, nzbs)) + _requests_from_urls(urls, base, nzbs)
        if not adds:
            raise ApiError(400, "nothing to add: send 'url', 'urls' or a 'file' upload")
        if debrid and any(a.nzb for a in adds) and not manager.takes_nzbs(debrid):
            raise ApiError(400, f"{debrid!r} takes no NZBs: name a {NZB_PROVIDERS} account, or none")
        records = [manager.add(a) for a in adds]
    except NzbError as exc:
        raise ApiError(400, f"unreadable NZB: {exc}") from None
    except TorrentMetaError as exc:
        raise ApiError(400, f"unreadable torrent: {exc}") from None
    return json_body([{"hash": r.hash, "name": r.name, "state": r.state.value} for r in records])


# ---------------------------------------------------------------- torrents

def get_torrents(manager: ImportManager) -> Any:
    query = bottle.request.query
    if query.get("hash"):
        record = manager.get(query.get("hash", ""))
        if record is None:
            raise ApiError(404, "no torrent with that hash")
        return json_body(record_json(record))
    category = query.getunicode("category") or None
    return json_body([record_json(r) for r in manager.list(category=category)])


def delete_torrents(manager: ImportManager) -> Any:
    query = bottle.request.query
    hashes = split_hashes(query.get("hash", ""))
    if not hashes:
        raise ApiError(400, "give hash= (one or more, ',' or '|' separated)")
    category = query.getunicode("category")
    if category:
        hashes = [r.hash for r in manager.list(category=category, hashes=set(hashes))]
    removed = manager.delete(hashes, delete_files=True,
                             remove_from_debrid=bool(_bool(query.get("remove_from_debrid"))))
    return json_body({"deleted": removed})


def make_rest_app(config: Config, manager: ImportManager, arrs: ArrRegistry,
                  stats: Callable[[], dict[str, Any]] | None = None,
                  apply: Apply = lambda config, keys: None) -> bottle.Bottle:
    app = bottle.Bottle()
    app.route("/api/config", "GET", api_errors(lambda: json_body(masked_raw(read_raw(config.config_dir)))))
    app.route("/api/config", "POST", api_errors(lambda: post_config(config, apply)))
    app.route("/api/torrents", "GET", api_errors(lambda: get_torrents(manager)))
    app.route("/api/torrents", "DELETE", api_errors(lambda: delete_torrents(manager)))
    app.route("/api/add", "POST", api_errors(lambda: post_add(manager, config)))
    app.route("/api/arrs", "GET", api_errors(lambda: json_body(arrs.listing())))
    return app
