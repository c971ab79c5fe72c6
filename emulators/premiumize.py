"""Premiumize API (``/api/...``) over the emulator world (docs/providers.md §6, §8.6).

Every answer is HTTP 200 with ``{"status": "success", ...fields}`` (or the
fields alone, with the ``pm_bare_success`` knob) or ``{"status": "error",
"message": ...}``; only the central layer (faults, the
optional rate limit, unknown routes) answers with other statuses, as
Cloudflare does in front of the real service. Authentication: ``Authorization:
Bearer <key>`` or the legacy ``apikey=`` parameter. GET and POST are both
accepted wherever a client might use either. Debrid-Link's ``/api/v2`` lies
inside ``/api``; the server routes the longer prefix first.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import bottle

from . import content
from .front import Front, bearer_or_query
from .model import PM, Account
from .pm_state import FAIR_USE_MESSAGE, PmError, PmFolder, PmItem, PmState, PmTransfer
from .realdebrid import json_response, parse_magnet, parse_torrent
from .world import World

PREFIX = "/api"
PREFIXES = (PREFIX,)
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_NZB_HEAD = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!DOCTYPE[^>]*>\s*)?<nzb\b", re.IGNORECASE)


def extract_token(environ: dict[str, Any]) -> str | None:
    """Bearer header first; the legacy ``?apikey=`` still works (docs/providers.md §6.1)."""
    return bearer_or_query(environ, "apikey")


def _error_shape(world: World, status: int, code: Any, message: str) -> tuple[int, Any]:
    """PM: ``{"status": "error", "message": ...}``, always HTTP 200 (Cloudflare 5xx aside)."""
    return status or 200, {"status": "error", "message": message or str(code or "error")}




def _param(name: str) -> str | None:
    """A query or form value (urlencoded or multipart), decoded as UTF-8."""
    value: str | None = bottle.request.forms.getunicode(name)
    if value is None:
        value = bottle.request.query.getunicode(name)
    return value


def _params(name: str) -> list[str]:
    raw = bottle.request.forms.getall(name) + bottle.request.query.getall(name)
    # bottle keeps values as latin-1 strings; the client sent UTF-8.
    return [v.encode("latin-1", "replace").decode("utf-8", "replace") for v in raw]


def _required(name: str) -> str:
    value = _param(name)
    if not value:
        raise PmError(f"Missing parameter: {name}.")
    return value


class PremiumizeApi:
    """Route handlers; each returns an ``HTTPResponse`` (errors included)."""

    def __init__(self, world: World) -> None:
        self.world = world

    def _ok(self, **fields: Any) -> bottle.HTTPResponse:
        """A success answer. With the ``pm_bare_success`` knob its fields come alone, without
        ``status``: the shape providers.md §6.2 documents for each call (the real
        ``item/details`` answers the bare item object). An answer with no fields keeps it."""
        if fields and self.world.knobs["pm_bare_success"]:
            return json_response(fields)
        return json_response({"status": "success", **fields})

    @property
    def state(self) -> PmState:
        # Looked up per call: ``world.reset()`` replaces the state objects.
        state = self.world.states[PM]
        assert isinstance(state, PmState)
        return state

    def mount(self, app: bottle.Bottle) -> None:
        routes: list[tuple[str, Callable[..., bottle.HTTPResponse], bool]] = [
            ("/account/info", self.account_info, False),
            ("/transfer/create", self.transfer_create, True),
            ("/transfer/list", self.transfer_list, False),
            ("/transfer/delete", self.transfer_delete, False),
            ("/transfer/clearfinished", self.transfer_clear, False),
            ("/folder/list", self.folder_list, False),
            ("/folder/delete", self.folder_delete, False),
            ("/item/details", self.item_details, False),
            ("/item/listall", self.item_listall, False),
            ("/item/delete", self.item_delete, False),
            ("/cache/check", self.cache_check, False),
        ]
        for path, handler, premium in routes:
            app.route(PREFIX + path, ["GET", "POST"], self._authed(handler, premium))

    def _authed(self, fn: Callable[..., bottle.HTTPResponse],
                premium: bool) -> Callable[..., bottle.HTTPResponse]:
        def wrapper(**kw: Any) -> bottle.HTTPResponse:
            try:
                token = extract_token(bottle.request.environ) or bottle.request.forms.get("apikey")
                acc = self.world.account_for(token)
                if acc is None:
                    raise PmError("Not logged in.")
                if premium and acc.premium_until <= self.world.now():
                    raise PmError("Account not premium.")
                return fn(acc, **kw)
            except PmError as err:
                return json_response({"status": "error", "message": err.message})
        return wrapper

    # -- account

    def account_info(self, acc: Account) -> bottle.HTTPResponse:
        return self._ok(customer_id=acc.user_id, premium_until=int(acc.premium_until),
                   limit_used=round(self.state.limit_used(acc.token), 6),
                   space_used=self.state.space_used(acc.token), booster_points=0)

    # -- transfers

    def transfer_create(self, acc: Account) -> bottle.HTTPResponse:
        upload = bottle.request.files.get("file") or bottle.request.files.get("src")
        if upload is not None:
            data = upload.file.read()
            h, src, kind, display = self._from_upload(data, upload.raw_filename or upload.filename or "")
        else:
            h, src, kind, display = self._from_src(_required("src"))
        t = self.state.create(acc.token, h, src, kind, display, _param("folder_id") or None)
        return self._ok(id=t.id, name=t.name, type=t.kind)

    def _from_upload(self, data: bytes, filename: str) -> tuple[str, str, str, str | None]:
        if filename.lower().endswith(".nzb") or _NZB_HEAD.match(data[:1024]):
            try:
                md5, name = self.state.nzb_entry(data, filename)
            except ValueError:
                raise PmError("Could not read the NZB file.") from None
            return md5, filename or f"{name}.nzb", "nzb", name
        try:
            h, name, files = parse_torrent(data)
        except (ValueError, IndexError, KeyError, TypeError, AttributeError):
            raise PmError("Could not read the torrent file.") from None
        with self.world.lock:
            if h not in self.world.catalog and files:
                self.world.add_catalog(h, name or h, [{"path": p, "size": s} for p, s in files])
        # The src of an upload is a magnet, so a client can read the infohash from it.
        return h, f"magnet:?xt=urn:btih:{h}&dn={quote(name or h, errors='replace')}", "torrent", name

    def _from_src(self, src: str) -> tuple[str, str, str, str | None]:
        src = src.strip()
        if src.lower().startswith("magnet:"):
            try:
                h, dn = parse_magnet(src)
            except (ValueError, TypeError):
                raise PmError("Invalid magnet link.") from None
            return h, src, "torrent", dn
        if _HEX40.fullmatch(src):
            return src.lower(), f"magnet:?xt=urn:btih:{src.lower()}", "torrent", None
        if src.lower().startswith(("http://", "https://")):
            # The emulator cannot fetch the URL: every URL is taken for an NZB job.
            md5, name = self.state.nzb_url_entry(src)
            return md5, src, "nzb", name
        raise PmError("Invalid source.")

    def transfer_list(self, acc: Account) -> bottle.HTTPResponse:
        with self.world.lock:
            transfers = [self._transfer(t) for t in self.state.list_transfers(acc.token)]
        return self._ok(transfers=transfers)

    @staticmethod
    def _transfer(t: PmTransfer) -> dict[str, Any]:
        return {
            "id": t.id, "name": t.name, "message": t.message, "status": t.status,
            "progress": round(t.progress, 4), "src": t.src, "folder_id": t.folder_id,
            "file_id": t.file_id, "other_cloud_id": None, "created_at": int(t.created),
        }

    def transfer_delete(self, acc: Account) -> bottle.HTTPResponse:
        self.state.delete_transfer(acc.token, _required("id"))
        return self._ok()

    def transfer_clear(self, acc: Account) -> bottle.HTTPResponse:
        self.state.clear_finished(acc.token)
        return self._ok()

    # -- the cloud

    def folder_list(self, acc: Account) -> bottle.HTTPResponse:
        with self.world.lock:
            folder = self.state.folder(acc.token, _param("id"))
            subs, items = self.state.children(acc.token, folder.id)
            entries = [self._folder_entry(f) for f in subs] + [self._item(i) for i in items]
            return self._ok(content=entries, name=folder.name, parent_id=folder.parent_id,
                       folder_id=folder.id, breadcrumbs=self._breadcrumbs(folder))

    def _breadcrumbs(self, folder: PmFolder) -> list[dict[str, Any]]:
        trail: list[dict[str, Any]] = []
        current: PmFolder | None = folder
        while current is not None:
            trail.append({"id": current.id, "name": current.name, "parent_id": current.parent_id})
            parent = current.parent_id
            current = self.state.folders.get(folder.token, {}).get(parent) if parent else None
        return list(reversed(trail))

    @staticmethod
    def _folder_entry(f: PmFolder) -> dict[str, Any]:
        return {"id": f.id, "name": f.name, "type": "folder", "created_at": int(f.created)}

    def _item(self, i: PmItem) -> dict[str, Any]:
        link = self.state.item_link(i)
        video = content.is_video(i.name)
        return {
            "id": i.id, "name": i.name, "type": "file", "size": i.file.bytes,
            "created_at": int(i.created), "mime_type": content.mime_type(i.name),
            "link": link, "stream_link": link if video and link else None,
            "transcode_status": "finished" if video else "not_applicable", "virus_scan": "ok",
        }

    def folder_delete(self, acc: Account) -> bottle.HTTPResponse:
        self.state.delete_folder(acc.token, _required("id"))
        return self._ok()

    def item_details(self, acc: Account) -> bottle.HTTPResponse:
        with self.world.lock:
            item = self.state.item(acc.token, _required("id"))
            if self.world.knobs["pm_fair_use_blocks_details"] and (
                    self.state.limit_used(acc.token) >= 1.0 or self.world.traffic_exhausted(acc)):
                raise PmError(FAIR_USE_MESSAGE)
            out = self._item(item)
            out["folder_id"] = item.folder_id
            return self._ok(**out)

    def item_listall(self, acc: Account) -> bottle.HTTPResponse:
        with self.world.lock:
            items = [i for i in self.state.items.get(acc.token, {}).values() if not i.file.purged]
            files = [{"id": i.id, "name": i.name, "created_at": int(i.created), "size": i.file.bytes,
                      "mime_type": content.mime_type(i.name), "path": self.state.item_path(i)}
                     for i in items]
        return self._ok(files=files)

    def item_delete(self, acc: Account) -> bottle.HTTPResponse:
        self.state.delete_item(acc.token, _required("id"))
        return self._ok()

    # -- cache check (free: no fair-use cost)

    def cache_check(self, acc: Account) -> bottle.HTTPResponse:
        response, transcoded, filename, filesize = [], [], [], []
        for raw in _params("items[]") + _params("items"):
            entry = self.state.cache_entry(self._hash_of(raw))
            response.append(entry is not None)
            transcoded.append(entry is not None and any(content.is_video(f.path) for f in entry.files))
            filename.append(entry.name if entry else None)
            filesize.append(str(sum(f.size for f in entry.files)) if entry else None)
        return self._ok(response=response, transcoded=transcoded, filename=filename, filesize=filesize)

    @staticmethod
    def _hash_of(raw: str) -> str:
        raw = raw.strip()
        if raw.lower().startswith("magnet:"):
            try:
                return parse_magnet(raw)[0]
            except (ValueError, TypeError):
                return ""
        if raw.lower().startswith(("http://", "https://")):
            return hashlib.md5(raw.encode()).hexdigest()
        return raw.lower()


def mount(app: bottle.Bottle, world: World) -> PremiumizeApi:
    api = PremiumizeApi(world)
    api.mount(app)
    return api


FRONT = Front(key=PM, prefixes=PREFIXES, mount=mount, extract_token=extract_token, error=_error_shape)
