"""TorBox API (``/v1/api/...``) over the emulator world: torrents and usenet (docs/providers.md §4, §8.6).

Every answer is the ``{success, error, detail, data}`` envelope. HTTP statuses:
200 success, 400 client error, 403 auth (``NO_AUTH`` / ``BAD_TOKEN``), 404
``ITEM_NOT_FOUND``, 409 ``add_only_if_cached`` miss (knob), 500 for ``*ERROR``
codes. The records and their state machines live in ``tb_state.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import bottle

from . import content
from .clock import iso
from .front import Front, bearer, query_value
from .model import TB, Account, RdFile
from .realdebrid import json_response, parse_magnet, parse_torrent
from .tb_state import TORRENT, USENET, TbError, TbItem, TbQueued, TbState, not_found
from .world import World

PREFIX = "/v1/api"
PREFIXES = (PREFIX,)
DEFAULT_LIMIT = 1000
_AUTH_CODES = frozenset({"NO_AUTH", "BAD_TOKEN", "AUTH_ERROR", "OAUTH_VERIFICATION_ERROR", "INVALID_DEVICE"})
_CREATE_PATHS = ("/createtorrent", "/createusenetdownload", "/createwebdownload")


def extract_token(environ: dict[str, Any]) -> str | None:
    """Bearer header; ``requestdl`` permalinks carry ``token=`` instead."""
    return bearer(environ) or query_value(environ, "token")


def scope(method: str, path: str) -> str:
    """The create calls have their own 60/hour window (knob ``rates["tb/create"]``)."""
    return "create" if path.rstrip("/").endswith(_CREATE_PATHS) else ""


def status_for(code: str) -> int:
    if code in _AUTH_CODES:
        return 403
    if code == "ITEM_NOT_FOUND":
        return 404
    if code in ("TOO_MANY_REQUESTS", "RATE_LIMIT"):
        return 429
    if code.endswith("ERROR"):
        return 500
    return 400


def _error_shape(world: World, status: int, code: Any, message: str) -> tuple[int, Any]:
    """TB: ``{"success": false, "error": CODE, "detail": ..., "data": null}``."""
    if status == 429:
        code = code or "TOO_MANY_REQUESTS"
    if str(code) == "404":
        code = "ENDPOINT_NOT_FOUND"
    code = str(code or ("UNKNOWN_ERROR" if not status or status >= 500 else "INVALID_OPTION"))
    return status or status_for(code), TbError(status, code, message or "error").body()


def _ok(data: Any, detail: str = "Success.") -> bottle.HTTPResponse:
    return json_response({"success": True, "error": None, "detail": detail, "data": data})


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _param(name: str) -> str | None:
    value: str | None = bottle.request.forms.getunicode(name)
    if value is None:
        value = bottle.request.query.getunicode(name)
    return value


def _json_body() -> dict[str, Any]:
    """JSON body (the documented form) or form fields (what some clients send)."""
    ctype = bottle.request.content_type or ""
    if "json" in ctype or (not ctype and bottle.request.content_length):
        try:
            body = json.loads(bottle.request.body.read() or b"{}")
        except ValueError:
            raise TbError(400, "INVALID_OPTION", "The body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise TbError(400, "INVALID_OPTION", "The body must be a JSON object.")
        return body
    return {k: bottle.request.forms.getunicode(k) for k in bottle.request.forms}


def _int_option(value: Any, name: str, required: bool = True) -> int | None:
    if value in (None, ""):
        if required:
            raise TbError(400, "MISSING_REQUIRED_OPTION", f"{name} is required.")
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TbError(400, "INVALID_OPTION", f"{name} must be an integer.") from None


class _Render:
    def __init__(self, world: World) -> None:
        self.world = world

    def auth_id(self, acc: Account) -> str:
        return hashlib.md5(f"auth-{acc.user_id}".encode()).hexdigest()

    def file(self, it: TbItem, f: RdFile, auth_id: str) -> dict[str, Any]:
        short = f.path.rsplit("/", 1)[-1]
        return {
            "id": f.id, "md5": None, "hash": hashlib.sha1(f.seed.encode()).hexdigest(), "name": f.path,
            "size": f.bytes, "zipped": False, "s3_path": f"{it.hash}/{f.path}", "infected": False,
            "mimetype": content.mime_type(short), "short_name": short,
            "absolute_path": f"/{auth_id}/{it.hash}/{f.path}", "opensubtitles_hash": None,
        }

    def item(self, it: TbItem, acc: Account) -> dict[str, Any]:
        now = self.world.now()
        auth_id = self.auth_id(acc)
        show_files = it.state not in ("metaDL", "queued")
        eta = 0
        if it.state == "downloading" and it.speed:
            eta = int((1 - it.progress) * it.size() / it.speed)
        out: dict[str, Any] = {
            "id": it.id, "auth_id": auth_id, "server": 1, "hash": it.hash, "name": it.name,
            "size": it.size() if show_files else 0, "active": not it.final,
            "created_at": iso(it.created), "updated_at": iso(it.ended or now),
            "download_state": it.state, "progress": round(it.progress, 4), "download_speed": it.speed,
            "eta": eta, "download_present": it.present(), "download_finished": it.finished,
            "expires_at": iso(it.created + 30 * 86400), "inactive_check": 0, "availability": 1.0 if it.finished else 0.0,
            "cached": self.world.is_cached(it.hash, TB), "cached_at": iso(it.ended) if it.cached_at_add and it.ended else None,
            "owner": auth_id, "files": [self.file(it, f, auth_id) for f in it.files] if show_files else [],
        }
        if it.kind == TORRENT:
            out.update({
                "magnet": it.magnet, "torrent_file": it.torrent_file, "seeds": 12 if it.state == "downloading" else 0,
                "peers": 3 if it.state == "downloading" else 0, "ratio": 0.0, "upload_speed": 0,
                "seed_torrent": it.seed != 3, "allow_zipped": True, "long_term_seeding": False,
                "tracker": None, "tracker_message": None, "private": False, "alternative_hashes": [],
                "total_uploaded": 0, "total_downloaded": it.size() if it.finished else 0,
            })
        return out

    def cached_entry(self, h: str, list_files: bool) -> dict[str, Any]:
        entry = self.world.catalog.get(h)
        out: dict[str, Any] = {"name": entry.name if entry else h, "size": sum(f.size for f in entry.files) if entry else 0,
                               "hash": h}
        if list_files:
            files = entry.files if entry else []
            single = len(files) == 1 and entry is not None and files[0].path == entry.name
            out["files"] = [{"name": f.path if single or entry is None else f"{entry.name}/{f.path}",
                             "size": f.size} for f in files]
        return out


class TorBoxApi:
    """Route handlers; each returns an ``HTTPResponse`` (errors included)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.render = _Render(world)

    @property
    def state(self) -> TbState:
        st = self.world.states[TB]
        assert isinstance(st, TbState)
        return st

    def mount(self, app: bottle.Bottle) -> None:
        routes: list[tuple[str | list[str], str, Callable[..., bottle.HTTPResponse]]] = [
            ("GET", "/user/me", self.user_me),
            ("POST", "/torrents/createtorrent", self.create_torrent),
            ("GET", "/torrents/mylist", lambda acc: self.mylist(acc, TORRENT)),
            ("POST", "/torrents/controltorrent", lambda acc: self.control(acc, TORRENT)),
            ("DELETE", "/torrents/controltorrent/<tid>", self.dx_delete),
            ("GET", "/torrents/requestdl", lambda acc: self.requestdl(acc, TORRENT)),
            (["GET", "POST"], "/torrents/checkcached", lambda acc: self.checkcached(acc)),
            ("POST", "/usenet/createusenetdownload", self.create_usenet),
            ("GET", "/usenet/mylist", lambda acc: self.mylist(acc, USENET)),
            ("POST", "/usenet/controlusenetdownload", lambda acc: self.control(acc, USENET)),
            ("GET", "/usenet/requestdl", lambda acc: self.requestdl(acc, USENET)),
            (["GET", "POST"], "/usenet/checkcached", lambda acc: self.checkcached(acc)),
            ("GET", "/queued/getqueued", self.getqueued),
        ]
        for method, path, handler in routes:
            app.route(PREFIX + path, method, self._authed(handler, query_token=path.endswith("/requestdl")))

    def _authed(self, fn: Callable[..., bottle.HTTPResponse], query_token: bool) -> Callable[..., bottle.HTTPResponse]:
        def wrapper(**kw: Any) -> bottle.HTTPResponse:
            try:
                environ = bottle.request.environ
                token = extract_token(environ) if query_token else bearer(environ)
                if not token:
                    raise TbError(403, "NO_AUTH", "No authentication was provided.")
                acc = self.world.account_for(token)
                if acc is None or acc.provider != TB:
                    raise TbError(403, "BAD_TOKEN", "The token provided is invalid.")
                return fn(acc, **kw)
            except TbError as err:
                return json_response(err.body(), err.status or status_for(err.code))
        return wrapper

    def _premium(self, acc: Account) -> None:
        if acc.premium_until <= self.world.now():
            raise TbError(400, "PLAN_RESTRICTED_FEATURE", "This feature needs an active plan.")

    # -- account

    def user_me(self, acc: Account) -> bottle.HTTPResponse:
        premium = acc.premium_until > self.world.now()
        plan, extra = self.state.plan(acc.token) if premium else (0, 0)
        data: dict[str, Any] = {
            "id": acc.user_id, "auth_id": self.render.auth_id(acc), "created_at": iso(0), "updated_at": iso(self.world.now()),
            "plan": plan, "total_downloaded": 0, "customer": f"cus_emu{acc.user_id}", "server": 1,
            "is_subscribed": premium, "premium_expires_at": iso(acc.premium_until), "cooldown_until": iso(0),
            "email": f"emu{acc.user_id}@example.invalid", "user_referral": None, "base_email": None,
            "total_bytes_downloaded": sum(acc.history.values()), "total_bytes_uploaded": 0,
            "torrents_downloaded": 0, "web_downloads_downloaded": 0, "usenet_downloads_downloaded": 0,
            "additional_concurrent_slots": extra, "long_term_seeding": False, "long_term_storage": False,
        }
        if _flag(bottle.request.query.get("settings")):
            data["settings"] = {"seed_torrents": 1, "allow_zipped": True}
        return _ok(data)

    # -- create

    def create_torrent(self, acc: Account) -> bottle.HTTPResponse:
        self._premium(acc)
        upload = bottle.request.files.get("file")
        magnet = _param("magnet")
        name = _param("name") or None
        seed = _int_option(_param("seed"), "seed", required=False) or 1
        opts: dict[str, Any] = {"seed": seed, "only_if_cached": _flag(_param("add_only_if_cached")),
                "as_queued": _flag(_param("as_queued"))}
        if upload is not None:
            try:
                h, tname, files = parse_torrent(upload.file.read())
            except (ValueError, IndexError, KeyError, TypeError, AttributeError):
                raise TbError(400, "BOZO_TORRENT", "The torrent file is invalid.") from None
            with self.world.lock:
                if h not in self.world.catalog and files:
                    self.world.add_catalog(h, tname or h, [{"path": p, "size": s} for p, s in files])
            result = self.state.add_torrent(acc.token, h, name, torrent_file=True, **opts)
        elif magnet:
            try:
                h, dn = parse_magnet(magnet)
            except (ValueError, TypeError):
                raise TbError(400, "BOZO_TORRENT", "The magnet link is invalid.") from None
            result = self.state.add_torrent(acc.token, h, name or dn, magnet=magnet, **opts)
        else:
            raise TbError(400, "MISSING_REQUIRED_OPTION", "Either magnet or file is required.")
        return self._created(acc, result, "torrent_id")

    def create_usenet(self, acc: Account) -> bottle.HTTPResponse:
        self._premium(acc)
        upload = bottle.request.files.get("file")
        link = _param("link") or None
        if upload is None and not link:
            raise TbError(400, "MISSING_REQUIRED_OPTION", "Either file or link is required.")
        data = upload.file.read() if upload is not None else None
        result = self.state.add_usenet(acc.token, data, None if data is not None else link, _param("name") or None,
                                       only_if_cached=_flag(_param("add_only_if_cached")),
                                       as_queued=_flag(_param("as_queued")))
        return self._created(acc, result, "usenetdownload_id")

    def _created(self, acc: Account, result: TbItem | TbQueued, id_field: str) -> bottle.HTTPResponse:
        auth_id = self.render.auth_id(acc)
        if isinstance(result, TbQueued):
            return _ok({"queued_id": result.id, "hash": result.hash, "auth_id": auth_id}, "Item queued.")
        detail = "Found cached item. Using cached item." if result.cached_at_add else "Item added successfully."
        return _ok({id_field: result.id, "hash": result.hash, "auth_id": auth_id}, detail)

    # -- list

    def mylist(self, acc: Account, kind: str) -> bottle.HTTPResponse:
        q = bottle.request.query
        item_id = _int_option(q.get("id"), "id", required=False)
        if item_id is not None:
            it = self.state.get(acc.token, kind, item_id)
            with self.world.lock:
                return _ok(self.render.item(it, acc))
        offset = max(0, _int_option(q.get("offset"), "offset", required=False) or 0)
        limit = _int_option(q.get("limit"), "limit", required=False) or DEFAULT_LIMIT
        items = self.state.items_of(acc.token, kind)[offset: offset + max(1, limit)]
        with self.world.lock:
            return _ok([self.render.item(it, acc) for it in items])

    def getqueued(self, acc: Account) -> bottle.HTTPResponse:
        with self.world.lock:
            rows = [{"id": q.id, "type": q.kind, "hash": q.hash, "name": q.name, "created_at": iso(q.created)}
                    for q in self.state.queued if q.token == acc.token]
        return _ok(rows)

    # -- control

    def control(self, acc: Account, kind: str) -> bottle.HTTPResponse:
        body = _json_body()
        id_field = "torrent_id" if kind == TORRENT else "usenet_id"
        operation = str(body.get("operation") or "").lower()
        every = _flag(body.get("all"))
        item_id = None if every else _int_option(body.get(id_field), id_field)
        if operation == "delete":
            self.state.delete(acc.token, kind, item_id)
        elif operation in ("pause", "resume", "reannounce", "recheck"):
            if item_id is not None:
                self.state.get(acc.token, kind, item_id)   # accepted as a no-op on a known item
        else:
            raise TbError(400, "INVALID_OPTION", f"Unknown operation {operation!r}.")
        return _ok(None, f"Operation {operation} done.")

    def dx_delete(self, acc: Account, tid: str) -> bottle.HTTPResponse:
        """Decypharr's ``DELETE /torrents/controltorrent/<id>`` (not in the docs)."""
        self.state.delete(acc.token, TORRENT, _int_option(tid, "torrent_id"))
        return _ok(None, "Operation delete done.")

    # -- links

    def requestdl(self, acc: Account, kind: str) -> bottle.HTTPResponse:
        q = bottle.request.query
        id_field = "torrent_id" if kind == TORRENT else "usenet_id"
        item_id = _int_option(q.get(id_field), id_field)
        if _flag(q.get("zip_link")):
            raise TbError(400, "INVALID_OPTION", "zip links are not emulated.")
        file_id = _int_option(q.get("file_id"), "file_id")
        assert item_id is not None and file_id is not None
        self._premium(acc)
        with self.world.lock:
            it = self.state.get(acc.token, kind, item_id)
            f = next((x for x in it.files if x.id == file_id), None)
            if f is None or not it.finished or f.purged:
                raise not_found("File")
            if self.world.traffic_exhausted(acc):
                raise TbError(400, "MONTHLY_LIMIT", "You have used up your download traffic.")
            link = self.world.mint_link(TB, acc.token, f, f.path.rsplit("/", 1)[-1],
                                        open_ttl=float(self.world.knobs["tb_link_open_ttl"]),
                                        owner_id=it.public_id())
            url = self.world.link_url(link)
        if _flag(q.get("redirect")):
            return bottle.HTTPResponse(b"", 302, {"Location": url})
        return _ok(url, "Download link generated.")

    # -- cache

    def checkcached(self, acc: Account) -> bottle.HTTPResponse:
        q = bottle.request.query
        hashes = [h for v in q.getall("hash") for h in v.split(",")]
        if bottle.request.method == "POST":
            raw = _json_body().get("hashes") or []
            if not isinstance(raw, list):
                raise TbError(400, "INVALID_OPTION", "hashes must be a list.")
            hashes += [str(h) for h in raw]
        wanted = list(dict.fromkeys(h.strip().lower() for h in hashes if h.strip()))
        if not wanted:
            raise TbError(400, "MISSING_REQUIRED_OPTION", "hash is required.")
        list_files = _flag(q.get("list_files"))
        with self.world.lock:
            found = [self.render.cached_entry(h, list_files) for h in wanted if self.world.is_cached(h, TB)]
        if not found:
            return _ok(None, "No items are cached.")
        if (q.get("format") or "object").lower() == "list":
            return _ok(found, "Found cached items.")
        return _ok({e["hash"]: e for e in found}, "Found cached items.")


def mount(app: bottle.Bottle, world: World) -> TorBoxApi:
    api = TorBoxApi(world)
    api.mount(app)
    return api


FRONT = Front(key=TB, prefixes=PREFIXES, mount=mount, extract_token=extract_token, error=_error_shape,
              scope=scope)
