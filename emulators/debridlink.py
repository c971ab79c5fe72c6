"""Debrid-Link API v2 (``/api/v2/...``) over the emulator world.

Envelope (docs/providers.md §5.1): ``{"success": true, "value": ..., "pagination":
{page, pages, next, previous}}`` or ``{"success": false, "error": "<camelCase>",
"error_description": "..."}``. DL documents no HTTP status per code; the
emulator uses 401 for auth codes, 403 for account refusals, 404 for
``unknowR``, 429 for ``floodDetected``, 5xx for server codes and 400 for the
rest (``_HTTP``).

Routes: ``account/infos``, ``seedbox/add`` (JSON or form ``url`` = magnet or
40-hex hash; multipart ``file`` = .torrent), ``seedbox/list`` (``ids``,
0-based ``page``, ``perPage`` clamped to 20..100), ``DELETE seedbox/{ids}/remove``,
``downloader/list``, ``DELETE downloader/{ids}/remove``; ``seedbox/cached``
was removed in 2024 and answers 404 ``unknowR``. An expired premium refuses
the seedbox/downloader calls with 403 ``notDebrid``. A .torrent *URL* in
``url`` is not fetched: 400 ``badArguments``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import bottle

from .dl_state import DlEntry, DlError, DlState, DlTorrent
from .front import Front, bearer
from .model import DL, Account
from .realdebrid import json_response, parse_magnet, parse_torrent
from .world import World

PREFIX = "/api/v2"
PREFIXES = (PREFIX,)
PER_PAGE_MIN, PER_PAGE_MAX = 20, 100

_HTTP = {
    "badToken": 401, "badSign": 401, "hidedToken": 401, "expired_token": 401,
    "invalid_client": 401, "unauthorized_client": 401, "access_denied": 401,
    "notDebrid": 403, "accountLocked": 403, "serverNotAllowed": 403, "captchaRequired": 403,
    "floodDetected": 429, "maxAttempts": 429,
    "unknowR": 404,
    "internalError": 500, "server_error": 500,
}
_HEX40 = re.compile(r"[0-9A-Fa-f]{40}")


extract_token = bearer


def _error_shape(world: World | None, status: int, code: Any, message: str) -> tuple[int, Any]:
    """DL: ``{"success": false, "error": code, "error_description": ...}``.

    The server passes bare HTTP statuses as codes for unknown routes ("404"):
    those become DL's own word for them.
    """
    if code is None or str(code).isdigit():
        code = {404: "unknowR", 405: "unknowR", 429: "floodDetected"}.get(
            status, "internalError" if status >= 500 else "badArguments")
    code = str(code)
    if code == "unknowR" and status in (0, 404, 405):
        message = "Endpoint not found."
    body = {"success": False, "error": code, "error_description": message or code}
    return status or _HTTP.get(code, 400), body


def _fail(err: DlError) -> bottle.HTTPResponse:
    status, body = _error_shape(None, err.status or _HTTP.get(err.code, 400), err.code,
                                err.description)
    return json_response(body, status)


def _ok(value: Any, pagination: dict[str, int] | None = None) -> bottle.HTTPResponse:
    body: dict[str, Any] = {"success": True, "value": value}
    if pagination is not None:
        body["pagination"] = pagination
    return json_response(body)


def _ids(raw: str) -> list[str]:
    return [x.strip() for x in (raw or "").split(",") if x.strip()]


def _int_query(name: str, default: int) -> int:
    raw = bottle.request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise DlError("badArguments", f"{name} must be an integer") from None


def _page(items: list[Any]) -> tuple[list[Any], dict[str, int]]:
    """0-based ``page``, ``perPage`` clamped to 20..100; next/previous are -1 at the ends."""
    per_page = max(PER_PAGE_MIN, min(PER_PAGE_MAX, _int_query("perPage", PER_PAGE_MIN)))
    page = max(0, _int_query("page", 0))
    pages = math.ceil(len(items) / per_page)
    window = items[page * per_page:(page + 1) * per_page]
    return window, {"page": page, "pages": pages,
                    "next": page + 1 if page + 1 < pages else -1,
                    "previous": page - 1 if 0 < page <= pages else -1}


class DebridLinkApi:
    """Route handlers; each returns an ``HTTPResponse`` (errors included)."""

    def __init__(self, world: World) -> None:
        self.world = world

    @property
    def state(self) -> DlState:
        state = self.world.states[DL]
        assert isinstance(state, DlState)
        return state

    def mount(self, app: bottle.Bottle) -> None:
        routes: list[tuple[str, str, Callable[..., bottle.HTTPResponse], bool]] = [
            ("GET", "/account/infos", self.account_infos, False),
            ("POST", "/seedbox/add", self.seedbox_add, True),
            ("GET", "/seedbox/list", self.seedbox_list, True),
            ("DELETE", "/seedbox/<ids>/remove", self.seedbox_remove, True),
            ("GET", "/downloader/list", self.downloader_list, True),
            ("DELETE", "/downloader/<ids>/remove", self.downloader_remove, True),
        ]
        for method, path, handler, premium in routes:
            app.route(PREFIX + path, method, self._authed(handler, premium))
        # Removed on 2024-11-25: DL now answers as for any unknown endpoint.
        app.route(PREFIX + "/seedbox/cached", ["GET", "POST"], self.removed)

    def _authed(self, fn: Callable[..., bottle.HTTPResponse],
                premium: bool) -> Callable[..., bottle.HTTPResponse]:
        def wrapper(**kw: Any) -> bottle.HTTPResponse:
            try:
                acc = self.world.account_for(extract_token(bottle.request.environ))
                if acc is None:
                    raise DlError("badToken", "Invalid or expired token.")
                if premium and acc.premium_until <= self.world.now():
                    raise DlError("notDebrid", "A premium account is required.")
                return fn(acc, **kw)
            except DlError as err:
                return _fail(err)
        return wrapper

    def removed(self) -> bottle.HTTPResponse:
        return _fail(DlError("unknowR", "Endpoint not found."))

    # -- account

    def account_infos(self, acc: Account) -> bottle.HTTPResponse:
        left = max(0, int(acc.premium_until - self.world.now()))
        return _ok({
            "username": f"emu{acc.user_id}",
            "email": f"emu{acc.user_id}@example.invalid",
            "emailVerified": True,
            "accountType": 1 if left > 0 else 0,   # 0 free, 1 premium
            "premiumLeft": left,                   # seconds left (docs/providers.md §5.2 [?])
            "pts": 0,
            "trafficshare": 0,
            "registerDate": "2020-01-01",
            "avatarUrl": f"{self.world.origin}/static/avatar.png",
            "viewSessidUrl": f"{self.world.origin}/account/sessions",
            "settings": {"https": True, "torrentDefaultStructureType": "list"},
        })

    # -- seedbox

    def seedbox_add(self, acc: Account) -> bottle.HTTPResponse:
        upload = bottle.request.files.get("file")
        if upload is not None:
            t = self._add_file(acc, upload.file.read(), _truthy(bottle.request.forms.get("wait")))
        else:
            params = _add_params()
            t = self._add_url(acc, str(params.get("url") or ""), _truthy(params.get("wait")))
        with self.world.lock:
            return _ok(self._render(t))

    def _add_file(self, acc: Account, data: bytes, wait: bool) -> DlTorrent:
        try:
            infohash, name, files = parse_torrent(data)
        except (ValueError, IndexError, KeyError, TypeError, AttributeError):
            raise DlError("badArguments", "Invalid torrent file.") from None
        return self.state.add_torrent_file(acc.token, infohash, name, files, wait)

    def _add_url(self, acc: Account, url: str, wait: bool) -> DlTorrent:
        url = url.strip()
        if _HEX40.fullmatch(url):
            return self.state.add(acc.token, url, None, wait)
        try:
            infohash, dn = parse_magnet(url)
        except (ValueError, TypeError):
            raise DlError("badArguments", "url must be a magnet link or an infohash.") from None
        return self.state.add(acc.token, infohash, dn, wait)

    def seedbox_list(self, acc: Account) -> bottle.HTTPResponse:
        raw_ids = bottle.request.query.getunicode("ids")
        items = self.state.list_torrents(acc.token, _ids(raw_ids) if raw_ids else None)
        window, pagination = _page(items)
        with self.world.lock:
            return _ok([self._render(t) for t in window], pagination)

    def seedbox_remove(self, acc: Account, ids: str) -> bottle.HTTPResponse:
        return _ok(self.state.remove_torrents(acc.token, _ids(ids)))

    # -- downloader

    def downloader_list(self, acc: Account) -> bottle.HTTPResponse:
        raw_ids = bottle.request.query.getunicode("ids")
        items = self.state.list_entries(acc.token)
        if raw_ids:
            wanted = set(_ids(raw_ids))
            items = [e for e in items if e.id in wanted]
        window, pagination = _page(items)
        with self.world.lock:
            return _ok([self._render_entry(e) for e in window], pagination)

    def downloader_remove(self, acc: Account, ids: str) -> bottle.HTTPResponse:
        return _ok(self.state.remove_entries(acc.token, _ids(ids)))

    # -- rendering (under the world lock: expired links are re-minted here)

    def _render(self, t: DlTorrent) -> dict[str, Any]:
        st = self.state
        v = st.view(t)
        prefix = t.name + "/" if self.world.knobs["dl_names_with_root"] else ""
        files = [{
            "id": f"{t.id}-{f.id}",
            "name": prefix + f.path.lstrip("/"),
            "downloadUrl": self.world.link_url(st.current_link(t, f)),
            "size": f.bytes,
            "downloadPercent": _number(v.percent),
            "downloaded": v.downloaded,
        } for f in st.listed_files(t)]
        return {
            "id": t.id, "name": t.name, "hashString": t.hash,
            "status": v.status, "error": v.error, "errorString": v.error_string,
            "wait": t.wait, "downloaded": v.downloaded, "downloadPercent": _number(v.percent),
            "downloadSpeed": v.speed, "uploadSpeed": 0,
            "peersConnected": 12 if v.status == 4 and not v.error else 0,
            "uploadRatio": 0.0, "serverId": "emu1", "totalSize": t.total(),
            "created": int(t.created), "isZip": False, "act_progress": False,
            "trackers": [{"announce": "udp://tracker.example.invalid:1337/announce"}],
            "files": files,
        }

    def _render_entry(self, e: DlEntry) -> dict[str, Any]:
        url = self.world.link_url(e.link)
        return {
            "id": e.id, "name": e.link.filename, "url": url, "downloadUrl": url,
            "size": e.link.file.bytes, "host": "seedbox", "chunk": 0,
            "created": int(e.created), "expired": self.world.link_expired(e.link),
            "isProcessing": False, "otherLinks": [],
        }


def _add_params() -> dict[str, Any]:
    """JSON body, or form fields (lenient, as clients vary)."""
    req = bottle.request
    if "json" in (req.content_type or ""):
        try:
            body = json.loads(req.body.read() or b"{}")
        except ValueError:
            raise DlError("badArguments", "Invalid JSON body.") from None
        if not isinstance(body, dict):
            raise DlError("badArguments", "Invalid JSON body.")
        return body
    return {k: req.forms.getunicode(k) for k in ("url", "wait", "async")}


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(x, 2)


def mount(app: bottle.Bottle, world: World) -> DebridLinkApi:
    api = DebridLinkApi(world)
    api.mount(app)
    return api


FRONT = Front(key=DL, prefixes=PREFIXES, mount=mount, extract_token=extract_token, error=_error_shape)
