"""qBittorrent Web API v2, as qBittorrent 4.6.7 (API 2.9.3) answers it.

The *arrs and ``qbittorrent-api`` are the clients (arr-protocol.md §1): plain
text where qBit answers text (``Ok.``, ``Fails.``, versions), JSON elsewhere,
403 from the guard on a missing session (api/auth.py), never a 500 page or a
traceback. Every endpoint reads query-string and form parameters alike,
because the arrs send GET queries and qbittorrent-api sends POST forms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import bottle

from api.qbit_handlers import QbitApi
from api.qbit_request import qbit_errors, text
from api.responses import json_body
from gateway.arr.registry import ArrRegistry
from gateway.auth import Auth
from gateway.clock import Clock
from gateway.config import Config
from gateway.imports.manager import ImportManager

APP_VERSION = "v4.6.7"
API_VERSION = "2.9.3"
BUILD_INFO = {"qt": "6.4.2", "libtorrent": "2.0.10.0", "boost": "1.83.0", "openssl": "3.1.4",
              "zlib": "1.3", "bitness": 64}
READ = ["GET", "POST"]
WRITE = ["POST"]
# Accepted and answered 200: debrid torrents have no queue, peers or pieces to act on.
NO_OPS = (
    "pause", "resume", "stop", "start", "topPrio", "bottomPrio", "increasePrio", "decreasePrio",
    "setForceStart", "recheck", "reannounce", "setSuperSeeding", "toggleSequentialDownload",
    "toggleFirstLastPiecePrio", "setFirstLastPiecePrio", "setAutoManagement", "setDownloadLimit",
    "setUploadLimit", "setLocation", "setSavePath", "setDownloadPath", "rename", "filePrio",
    "renameFile", "renameFolder", "addTrackers", "editTracker", "removeTrackers", "addPeers",
)


# ----------------------------------------------------------------- routes

def _routes(api: QbitApi, config: Config) -> Iterable[tuple[str, list[str], Callable[[], Any]]]:
    constant = {"version": APP_VERSION, "webapiVersion": API_VERSION}
    yield "auth/login", WRITE, api.login
    yield "auth/login", ["GET"], lambda: text("Method Not Allowed", 405)   # credentials never in a URL
    yield "auth/logout", WRITE, api.logout
    for name, value in constant.items():
        def answer(value: str = value) -> bottle.HTTPResponse:
            return text(value)
        yield f"app/{name}", READ, answer
    yield "app/buildInfo", READ, lambda: json_body(BUILD_INFO)
    yield "app/preferences", READ, api.preferences
    yield "app/setPreferences", WRITE, api.no_op
    yield "app/defaultSavePath", READ, lambda: text(config.download_folder)
    yield "transfer/info", READ, api.transfer_info
    yield "transfer/speedLimitsMode", READ, lambda: text("0")
    for name in ("downloadLimit", "uploadLimit"):
        yield f"transfer/{name}", READ, lambda: text("0")
    for name in ("toggleSpeedLimitsMode", "setDownloadLimit", "setUploadLimit", "setSpeedLimitsMode"):
        yield f"transfer/{name}", WRITE, api.no_op
    yield "sync/maindata", READ, api.maindata
    yield "sync/torrentPeers", READ, lambda: json_body({"rid": 1, "full_update": True, "peers": {}})
    yield from _torrent_routes(api)


def _torrent_routes(api: QbitApi) -> Iterable[tuple[str, list[str], Callable[[], Any]]]:
    reads = {"info": api.info, "properties": api.properties, "files": api.files, "trackers": api.trackers,
             "webseeds": api.empty_list, "pieceStates": api.empty_list, "pieceHashes": api.empty_list,
             "categories": api.categories, "tags": api.tags}
    writes = {"add": api.add, "delete": api.delete, "setCategory": api.set_category,
              "createCategory": api.create_category, "editCategory": api.edit_category,
              "removeCategories": api.remove_categories, "createTags": api.create_tags,
              "deleteTags": api.delete_tags, "addTags": api.add_tags, "removeTags": api.remove_tags,
              "setShareLimits": api.set_share_limits}
    writes.update({name: api.no_op for name in NO_OPS})
    for name, handler in reads.items():
        yield f"torrents/{name}", READ, handler
    for name, handler in writes.items():
        yield f"torrents/{name}", WRITE, handler


def make_qbit_app(*, config: Config, imports: ImportManager, auth: Auth, arrs: ArrRegistry,
                  clock: Clock | None = None) -> bottle.Bottle:
    app = bottle.Bottle()
    api = QbitApi(config, imports, auth, arrs, clock)
    for path, methods, handler in _routes(api, config):
        app.route(f"/api/v2/{path}", methods, qbit_errors(handler))
    return app
