"""AllDebrid API (``/v4/...`` and ``/v4.1/...``) over the emulator world.

Shapes follow docs/providers.md §3 field for field. Conventions the real service has
and this front keeps:

- every path answers under both ``/v4`` and ``/v4.1``, by GET (query) and by
  POST (form or multipart); PHP arrays ``magnets[]``, ``id[]``, ``link[]``,
  ``files[]``; the ``agent`` parameter is accepted and ignored;
- auth by ``Authorization: Bearer`` or the legacy ``apikey=`` (query or form);
- the envelope ``{"status": "success", "data": ...}`` or ``{"status": "error",
  "error": {"code", "message"}}``, with HTTP 200 (knob ``ad_errors_http_status``:
  anything but 200 gives 401 auth, 403 premium/ban, 404 unknown id or link, 400
  the rest); ``magnet/upload`` reports per-item errors inside a success;
- ``magnet/status`` with ``id`` answers ``magnets`` as ONE OBJECT with the
  ``files`` tree; without ``id`` an ARRAY, ``files`` left out unless
  ``ad_list_includes_files``. ``session``/``counter`` delta sync is answered
  with a full list flagged ``fullsync: true`` (always correct, never a delta);
- ``magnet/instant`` is gone: 404 "Endpoint doesn't exist".

The AllDebrid file links ``<origin>/ad-link/f/<id>`` exist only to be unlocked;
fetching one directly gets a plain 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bottle

from gateway.torrentid import btih

from . import content
from .ad_state import STATUS_LABELS, AdError, AdMagnet, AdState
from .front import Front, bearer_or_query
from .model import AD, Account, RdFile
from .realdebrid import json_response, parse_magnet, parse_torrent
from .world import World

PREFIXES = ("/v4", "/v4.1")
HOST = "alldebrid"
HOST_DOMAIN = "alldebrid.com"

# HTTP status of each code when ``ad_errors_http_status`` is not 200.
_HTTP_STATUS: dict[str, int] = {
    "AUTH_MISSING_APIKEY": 401, "AUTH_BAD_APIKEY": 401, "AUTH_BLOCKED": 403, "AUTH_USER_BANNED": 403,
    "MUST_BE_PREMIUM": 403, "MAGNET_MUST_BE_PREMIUM": 403, "NO_SERVER": 403,
    "MAGNET_INVALID_ID": 404, "DELAYED_INVALID_ID": 404, "LINK_DOWN": 404,
    "MAGNET_LINKS_REMOVED": 404, "404": 404, "MAINTENANCE": 503, "RATE_LIMITED": 429,
}


def extract_token(environ: dict[str, Any]) -> str | None:
    """Bearer header first; the legacy ``?apikey=`` is still accepted."""
    return bearer_or_query(environ, "apikey")


def _http_status(world: World | None, code: str) -> int:
    if world is None or world.knobs.get("ad_errors_http_status", 200) in (200, "200"):
        return 200
    return _HTTP_STATUS.get(code, 400)


def _error_shape(world: World, status: int, code: Any, message: str) -> tuple[int, Any]:
    """AD: ``{"status": "error", "error": {code, message}}``, HTTP 200 unless told otherwise."""
    if status == 429:
        code = code or "RATE_LIMITED"
    code = str(code or "GENERIC")
    body = {"status": "error", "error": {"code": code, "message": message or "error"}}
    return status or _http_status(world, code), body


def _hash_of(item: str) -> tuple[str, str | None]:
    """(infohash, display name) of a ``magnets[]`` value: a magnet URI or a bare hash."""
    item = item.strip()
    try:
        return btih(item), None   # a bare hash, hex or base32
    except ValueError:
        pass
    try:
        return parse_magnet(item)
    except (ValueError, TypeError):
        raise AdError("MAGNET_INVALID_URI", "The magnet URI is not valid") from None


# -------------------------------------------------------------- rendering


def _file_node(f: RdFile, url: str) -> dict[str, Any]:
    return {"n": f.path.rsplit("/", 1)[-1], "s": f.bytes, "l": url}


def _state(world: World) -> AdState:
    # Looked up on each call: ``World.reset`` replaces the state objects.
    state = world.states[AD]
    assert isinstance(state, AdState)
    return state


class _Render:
    def __init__(self, world: World) -> None:
        self.world = world

    @property
    def state(self) -> AdState:
        return _state(self.world)

    def tree(self, m: AdMagnet) -> list[dict[str, Any]]:
        """A bare file node for a single-file torrent; else one folder named after it."""
        urls = [self.state.link_url(x) for x in m.link_ids]
        if len(m.files) == 1 and "/" not in m.files[0].path.lstrip("/"):
            return [_file_node(m.files[0], urls[0])]
        top: list[dict[str, Any]] = []
        folders: dict[tuple[str, ...], list[dict[str, Any]]] = {(): top}
        for f, url in zip(m.files, urls, strict=True):
            parts = tuple(f.path.lstrip("/").split("/"))
            for depth in range(1, len(parts)):
                if parts[:depth] not in folders:
                    node: dict[str, Any] = {"n": parts[depth - 1], "e": []}
                    folders[parts[:depth - 1]].append(node)
                    folders[parts[:depth]] = node["e"]
            folders[parts[:-1]].append(_file_node(f, url))
        return [{"n": m.name, "e": top}]

    def legacy_links(self, m: AdMagnet) -> list[dict[str, Any]]:
        """The old v4 shape: one entry per file, its path as nested ``{n, s}`` nodes."""
        out = []
        for f, link_id in zip(m.files, m.link_ids, strict=True):
            parts = f.path.lstrip("/").split("/")
            node: dict[str, Any] = {"n": parts[-1], "s": f.bytes}
            for part in reversed(parts[:-1]):
                node = {"n": part, "e": [node]}
            out.append({"link": self.state.link_url(link_id), "filename": parts[-1],
                        "size": f.bytes, "files": [node]})
        return out

    def magnet(self, m: AdMagnet, files: bool, legacy: bool = False) -> dict[str, Any]:
        downloaded, speed = self.state.progress(m)
        ready = m.code == 4
        out: dict[str, Any] = {
            "id": m.id, "filename": m.name, "size": m.size, "hash": m.hash,
            "status": STATUS_LABELS.get(m.code, "Processing failed"), "statusCode": m.code,
            "downloaded": downloaded, "uploaded": downloaded if m.code >= 3 else 0,
            "seeders": 12 if m.code == 1 else 0, "downloadSpeed": speed, "uploadSpeed": 0,
            "processingPerc": 100 if ready else 0, "uploadDate": int(m.added),
            "completionDate": int(m.completed) if ready and m.completed else 0,
            "type": "m", "notified": False, "version": 2,
            "nbLinks": len(m.files) if ready else 0,
        }
        if legacy:
            out["links"] = self.legacy_links(m) if ready else []
        elif files and ready:
            out["files"] = self.tree(m)
        return out

    def uploaded(self, m: AdMagnet, given: str) -> dict[str, Any]:
        return {"magnet": given, "hash": m.hash, "name": m.name, "filename_original": m.name,
                "size": m.size, "ready": m.code == 4, "id": m.id}

    def unlocked(self, m: AdMagnet, f: RdFile, result: Any) -> dict[str, Any]:
        name = f.path.rsplit("/", 1)[-1]
        out: dict[str, Any] = {
            "link": "", "host": HOST, "filename": name, "filesize": f.bytes,
            "paws": False, "streaming": [], "streams": [], "hostDomain": HOST_DOMAIN,
        }
        if hasattr(result, "cdn_token"):
            out["link"] = self.world.link_url(result)
            out["id"] = result.cdn_token[:10]
        else:   # delayed: the link comes from /link/delayed later
            out["id"] = str(result.id)
            out["delayed"] = result.id
        return out


# -------------------------------------------------------------------- API


def _ok(data: Any) -> bottle.HTTPResponse:
    return json_response({"status": "success", "data": data})


class AllDebridApi:
    def __init__(self, world: World) -> None:
        self.world = world
        self.render = _Render(world)

    @property
    def state(self) -> AdState:
        return _state(self.world)

    def mount(self, app: bottle.Bottle) -> None:
        routes: list[tuple[str, Callable[..., bottle.HTTPResponse], bool]] = [
            ("/user", self.user, False),
            ("/magnet/upload", self.upload, True),
            ("/magnet/upload/file", self.upload_file, True),
            ("/magnet/status", self.status, True),
            ("/magnet/files", self.files, True),
            ("/magnet/delete", self.delete, True),
            ("/link/unlock", self.unlock, True),
            ("/link/infos", self.infos, True),
            ("/link/delayed", self.delayed, True),
        ]
        for prefix in PREFIXES:
            for path, handler, premium in routes:
                app.route(prefix + path, ["GET", "POST"], self._authed(handler, premium, prefix))
            app.route(prefix + "/magnet/instant", ["GET", "POST"], self.instant)
            app.route(prefix + "/ping", ["GET", "POST"], lambda: _ok({"ping": "pong"}))
        app.route("/ad-link/f/<lid>", ["GET", "HEAD"], self.file_link)

    # -- plumbing

    def _error(self, err: AdError) -> bottle.HTTPResponse:
        status, body = _error_shape(self.world, 0, err.code, err.message)
        return json_response(body, status)

    def _authed(self, fn: Callable[..., bottle.HTTPResponse], premium: bool,
                prefix: str) -> Callable[..., bottle.HTTPResponse]:
        def wrapper() -> bottle.HTTPResponse:
            try:
                return fn(self._account(premium), prefix)
            except AdError as err:
                return self._error(err)
        return wrapper

    def _account(self, premium: bool) -> Account:
        token = extract_token(bottle.request.environ) or bottle.request.forms.getunicode("apikey")
        if not token:
            raise AdError("AUTH_MISSING_APIKEY", "The auth apikey was not sent")
        acc = self.world.account_for(token)
        if acc is None:
            raise AdError("AUTH_BAD_APIKEY", "The auth apikey is invalid")
        if premium and acc.premium_until <= self.world.now():
            raise AdError("MUST_BE_PREMIUM", "You must be premium to process this link")
        return acc

    @staticmethod
    def _param(name: str) -> str:
        return (bottle.request.params.decode().get(name) or "").strip()

    @staticmethod
    def _array(name: str) -> list[str]:
        """``name[]`` values (also ``name`` repeated), from the query and the form."""
        params = bottle.request.params.decode()
        return [v for v in params.getall(name + "[]") + params.getall(name) if v.strip()]

    # -- account

    def user(self, acc: Account, prefix: str) -> bottle.HTTPResponse:
        premium = acc.premium_until > self.world.now()
        return _ok({"user": {
            "username": f"emu{acc.user_id}", "email": f"emu{acc.user_id}@example.invalid",
            "isPremium": premium, "isSubscribed": premium, "isTrial": False,
            "premiumUntil": int(acc.premium_until) if premium else 0, "lang": "en",
            "preferedDomain": "com", "fidelityPoints": 0, "limitedHostersQuotas": {},
            "remainingTrialQuota": 0, "notifications": [],
        }})

    # -- magnets

    def upload(self, acc: Account, prefix: str) -> bottle.HTTPResponse:
        given = self._array("magnets")
        if not given:
            raise AdError("MAGNET_NO_URI", "No magnet sent")
        out = []
        for item in given:
            try:
                infohash, display = _hash_of(item)
                out.append(self.render.uploaded(self.state.upload(acc, infohash, display), item))
            except AdError as err:
                out.append({"magnet": item, "error": err.body()})
        return _ok({"magnets": out})

    def upload_file(self, acc: Account, prefix: str) -> bottle.HTTPResponse:
        uploads = bottle.request.files.getall("files[]") + bottle.request.files.getall("files")
        if not uploads:
            raise AdError("MAGNET_NO_URI", "No file sent")
        out = []
        for up in uploads:
            name = up.raw_filename or up.filename or "file.torrent"
            try:
                try:
                    infohash, tname, files = parse_torrent(up.file.read())
                except (ValueError, IndexError, KeyError, TypeError, AttributeError):
                    raise AdError("MAGNET_INVALID_FILE", "The torrent file is not valid") from None
                m = self.state.upload_file(acc, infohash, tname, files)
                item = self.render.uploaded(m, name)
                item["file"] = item.pop("magnet")
                out.append(item)
            except AdError as err:
                out.append({"file": name, "error": err.body()})
        return _ok({"files": out})

    def status(self, acc: Account, prefix: str) -> bottle.HTTPResponse:
        legacy = prefix == "/v4" and bool(self.world.knobs["ad_v4_status_legacy"])
        magnet_id = self._param("id")
        with self.world.lock:
            if magnet_id:
                m = self.state.get(acc.token, magnet_id)
                return _ok({"magnets": self.render.magnet(m, True, legacy)})
            files = bool(self.world.knobs["ad_list_includes_files"])
            items = self.state.list(acc.token, self._param("status") or None)
            data: dict[str, Any] = {"magnets": [self.render.magnet(m, files, legacy) for m in items]}
        session = self._param("session")
        if session:
            data["counter"] = self.state.next_counter(acc.token, session)
            data["fullsync"] = True
        return _ok(data)

    def files(self, acc: Account, prefix: str) -> bottle.HTTPResponse:
        ids = self._array("id")
        if not ids:
            raise AdError("MAGNET_INVALID_ID", "No magnet ID sent")
        out: list[dict[str, Any]] = []
        with self.world.lock:
            for raw in ids:
                try:
                    m = self.state.get(acc.token, raw)
                    if m.code != 4:
                        raise AdError("MAGNET_PROCESSING", "This magnet is not ready yet")
                    out.append({"id": str(m.id), "files": self.render.tree(m)})
                except AdError as err:
                    out.append({"id": raw, "error": err.body()})
        return _ok({"magnets": out})

    def delete(self, acc: Account, prefix: str) -> bottle.HTTPResponse:
        ids = ([self._param("id")] if self._param("id") else []) + self._array("ids")
        if not ids:
            raise AdError("MAGNET_INVALID_ID", "No magnet ID sent")
        with self.world.lock:
            for raw in ids:
                self.state.get(acc.token, raw)   # all or nothing
            for raw in ids:
                self.state.delete(acc.token, raw)
        word = "Magnet was" if len(ids) == 1 else "Magnets were"
        return _ok({"message": f"{word} successfully deleted"})

    def instant(self) -> bottle.HTTPResponse:
        _, body = _error_shape(self.world, 404, "404", "Endpoint doesn't exist")
        return json_response(body, 404)

    # -- links

    def unlock(self, acc: Account, prefix: str) -> bottle.HTTPResponse:
        m, f, result = self.state.unlock(acc, self._param("link"))
        return _ok(self.render.unlocked(m, f, result))

    def delayed(self, acc: Account, prefix: str) -> bottle.HTTPResponse:
        status, left, link = self.state.delayed_status(acc, self._param("id"))
        return _ok({"status": status, "time_left": int(left + 0.999),
                    "link": self.world.link_url(link) if link is not None else ""})

    def infos(self, acc: Account, prefix: str) -> bottle.HTTPResponse:
        links = self._array("link")
        if not links:
            raise AdError("LINK_IS_MISSING", "No link was sent")
        out = []
        with self.world.lock:
            for link in links:
                try:
                    m, f = self.state.resolve(link)
                    if f.purged or m.completed is None:
                        raise AdError("LINK_DOWN", "This link is not available on the file hoster website")
                    out.append({"link": link, "filename": f.path.rsplit("/", 1)[-1], "size": f.bytes,
                                "host": HOST, "hostDomain": HOST_DOMAIN,
                                "mimetype": content.mime_type(f.path)})
                except AdError as err:
                    out.append({"link": link, "error": err.body()})
        return _ok({"infos": out})

    def file_link(self, lid: str) -> bottle.HTTPResponse:
        return bottle.HTTPResponse("AllDebrid file link: unlock it first (link/unlock)\n", 404,
                                   {"Content-Type": "text/plain"})


def mount(app: bottle.Bottle, world: World) -> AllDebridApi:
    api = AllDebridApi(world)
    api.mount(app)
    return api


FRONT = Front(key=AD, prefixes=PREFIXES, mount=mount, extract_token=extract_token, error=_error_shape)
