"""HTTP front of the emulator: cheroot + bottle, logging, faults, rate limits, control plane.

One listener serves the RD API (``/rest/1.0``), the CDN (``/cdn/...``), the
restricted-link stubs (``/rd-link/...``) and the control plane (``/__emu``).
The outer WSGI layer does the cross-cutting work (request log, fault rules,
per-token rate limit, mid-body connection drops) before bottle routes.
"""

from __future__ import annotations

import errno
import http
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import bottle
from cheroot import wsgi

from . import alldebrid, debridlink, premiumize, realdebrid, torbox
from .cdn import mount_cdn
from .front import Front
from .realdebrid import PREFIX as RD_PREFIX
from .world import RD, FaultRule, RdError, World, parse_time

# Longest prefixes first: Debrid-Link's /api/v2 lies inside Premiumize's /api.
FRONTS: tuple[Front, ...] = tuple(sorted(
    (realdebrid.FRONT, alldebrid.FRONT, torbox.FRONT, debridlink.FRONT, premiumize.FRONT),
    key=lambda f: -max(len(p) for p in f.prefixes)))
FRONT_BY_KEY = {f.key: f for f in FRONTS}


def front_for(path: str) -> Front | None:
    return next((f for f in FRONTS if f.owns(path)), None)

log = logging.getLogger("emulators")

StartResponse = Callable[..., Any]


def _status_line(code: int) -> str:
    try:
        phrase = http.HTTPStatus(code).phrase
    except ValueError:
        phrase = {509: "Bandwidth Limit Exceeded"}.get(code, "Unknown")
    return f"{code} {phrase}"


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def _json_error_handler(err: bottle.HTTPError) -> str:
    """Unknown routes and crashes answer in the provider's error shape, not bottle HTML."""
    bottle.response.content_type = "application/json; charset=utf-8"
    if err.status_code >= 500:
        log.error("emulator handler crashed: %s\n%s", err.exception, err.traceback)
    front = front_for(_decoded_path(bottle.request.environ))
    if front is None or front.key == RD:
        code = {404: 3, 405: 4}.get(err.status_code, -1)
        return json.dumps(RdError(err.status_code, code).body())
    world = bottle.request.environ.get("emu.world")
    status, body = front.error(world, err.status_code, str(err.status_code) if err.status_code == 404 else None,
                               "Endpoint not found." if err.status_code == 404 else "internal error")
    bottle.response.status = status
    return json.dumps(body)


def _drop_after(body: Iterable[bytes], limit: int) -> Iterator[bytes]:
    """Pass ``limit`` bytes through, then abort the connection mid-body.

    cheroot treats ECONNABORTED as a routine socket error: it closes the
    connection quietly, so the client sees an incomplete read against the
    Content-Length it was promised.
    """
    sent = 0
    try:
        for chunk in body:
            if sent + len(chunk) > limit:
                if limit > sent:
                    yield chunk[: limit - sent]
                raise ConnectionAbortedError(errno.ECONNABORTED, "emulated connection drop")
            sent += len(chunk)
            yield chunk
    finally:
        close = getattr(body, "close", None)
        if close:
            close()


def _decoded_path(environ: dict[str, Any]) -> str:
    # PEP 3333 hands PATH_INFO over as latin-1; the client sent UTF-8.
    raw = environ.get("PATH_INFO", "") or "/"
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return raw


class EmuApp:
    """The WSGI application served by cheroot."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.app = bottle.Bottle(catchall=True)
        self.app.default_error_handler = _json_error_handler
        for front in FRONTS:
            front.mount(self.app, world)
        mount_cdn(self.app, world)
        self.control: Callable[[dict[str, Any], StartResponse], Iterable[bytes]] = build_control_app(world)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        verb = environ.get("HTTP_X_HTTP_VERB")
        if verb:  # RD lets clients override the method with a header
            environ["REQUEST_METHOD"] = verb.upper()
        method = environ["REQUEST_METHOD"].upper()
        path = _decoded_path(environ)
        if path.startswith("/__emu"):
            return self.control(environ, start_response)
        environ["emu.world"] = self.world
        provider, kind = self._classify(path)
        if kind == "api" and len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")  # DX calls POST /unrestrict/link/
            environ["PATH_INFO"] = environ["PATH_INFO"].rstrip("/")
        token = FRONT_BY_KEY[provider].extract_token(environ) if kind == "api" and provider else self._cdn_owner(path)
        entry = self.world.log_append({
            "method": method, "path": path, "query": environ.get("QUERY_STRING", ""),
            "status": None, "token": token, "t": self.world.now(), "provider": provider,
            "range": environ.get("HTTP_RANGE", ""),
        })

        def logged_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            entry["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        return self._handle(environ, logged_start, provider, kind, method, path, token)

    def _handle(self, environ: dict[str, Any], start: StartResponse, provider: str | None,
                kind: str, method: str, path: str, token: str | None) -> Iterable[bytes]:
        rule = self.world.match_fault(provider, method, path, token)
        if rule is not None and rule.delay_ms:
            time.sleep(rule.delay_ms / 1000.0)  # real time: it simulates network latency
        if rule is not None and rule.hold:
            self.world.hold_request()
        if rule is not None and (rule.status is not None or rule.provider_error is not None):
            body: Iterable[bytes] = self._fault_response(rule, provider, method, start)
        elif kind == "api" and token and (retry := self._rate_check(provider or RD, token, method, path)):
            body = self._rate_limited(provider or RD, retry, start)
        else:
            body = self.app(environ, start)
        if rule is not None and rule.drop_connection_after_bytes is not None:
            return _drop_after(body, int(rule.drop_connection_after_bytes))
        return body

    def _rate_check(self, provider: str, token: str, method: str, path: str) -> float | None:
        return self.world.rate_check(provider, token, FRONT_BY_KEY[provider].scope(method, path))

    @staticmethod
    def _classify(path: str) -> tuple[str | None, str]:
        front = front_for(path)
        if front is not None:
            return front.key, "api"
        if path.startswith("/cdn/"):
            return path.split("/")[2] or None, "cdn"
        if path.startswith("/rd-link/"):
            return RD, "cdn"
        return None, "other"

    def _cdn_owner(self, path: str) -> str | None:
        parts = path.split("/")
        if len(parts) > 3 and parts[1] == "cdn":
            return self.world.cdn_owner(parts[2], parts[3])
        return None

    def _fault_response(self, rule: FaultRule, provider: str | None, method: str,
                        start: StartResponse) -> list[bytes]:
        headers = {str(k): str(v) for k, v in rule.headers.items()}
        status = int(rule.status or 0)
        if rule.provider_error is not None:
            pe = rule.provider_error
            front = FRONT_BY_KEY.get(provider or RD, FRONT_BY_KEY[RD])
            message = str(pe.get("message") or pe.get("error") or "")
            status, payload = front.error(self.world, status, pe.get("code"), message)
            data = _json_bytes(payload)
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        elif isinstance(rule.body, str):
            data = rule.body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        elif rule.body is not None:
            data = _json_bytes(rule.body)
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        else:
            data = b""
        if method == "HEAD":
            data = b""
        headers["Content-Length"] = str(len(data))
        start(_status_line(status or 500), list(headers.items()))
        return [data]

    def _rate_limited(self, provider: str, retry_after: float, start: StartResponse) -> list[bytes]:
        _, payload = FRONT_BY_KEY[provider].error(self.world, 429, None, "Too many requests")
        data = _json_bytes(payload)
        headers = [("Content-Type", "application/json; charset=utf-8"),
                   ("Content-Length", str(len(data)))]
        if self.world.knobs["send_retry_after"]:
            headers.append(("Retry-After", str(max(1, math.ceil(retry_after)))))
        start(_status_line(429), headers)
        return [data]


# ---------------------------------------------------------------- control plane


def _body() -> Any:
    raw = bottle.request.body.read()
    return json.loads(raw) if raw.strip() else {}


def _items(body: Any, key: str) -> list[dict[str, Any]]:
    """Accept a list, ``{key: [...]}`` or a single object."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and key in body:
        return list(body[key])
    return [body]


def _ok(obj: Any = None, status: int = 200) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(_json_bytes({"ok": True} if obj is None else obj), status,
                               {"Content-Type": "application/json; charset=utf-8"})


class _Control:
    """``/__emu/...``: the World's methods over HTTP, JSON in and out."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[tuple[str, str, Callable[[], bottle.HTTPResponse]]]:
        return [
            ("POST", "/reset", self.reset), ("POST", "/catalog", self.catalog),
            ("POST", "/accounts", self.accounts), ("POST", "/cached", self.cached),
            ("GET", "/clock", self.clock_get), ("POST", "/clock", self.clock),
            ("GET", "/faults", self.faults_get), ("POST", "/faults", self.faults_add),
            ("DELETE", "/faults", self.faults_clear), ("POST", "/purge", self.purge),
            ("POST", "/expire-links", self.expire_links), ("POST", "/traffic", self.traffic),
            ("POST", "/revoke", self.revoke), ("POST", "/library", self.library),
            ("GET", "/knobs", self.knobs_get), ("POST", "/knobs", self.knobs_set),
            ("GET", "/log", self.log_get), ("DELETE", "/log", self.log_clear),
            ("GET", "/state", self.state), ("POST", "/release", self.release),
        ]

    def reset(self) -> bottle.HTTPResponse:
        self.world.reset()
        return _ok()

    def catalog(self) -> bottle.HTTPResponse:
        entries = self.world.add_catalog_entries(_items(_body(), "entries"))
        return _ok({"added": [e.infohash for e in entries]})

    def accounts(self) -> bottle.HTTPResponse:
        accs = self.world.add_accounts(_items(_body(), "accounts"))
        return _ok({"added": [a.token for a in accs]})

    def cached(self) -> bottle.HTTPResponse:
        b = _body()
        self.world.set_cached(b["hashes"], bool(b.get("cached", True)), b.get("provider", RD))
        return _ok()

    def clock_get(self) -> bottle.HTTPResponse:
        return _ok({"now": self.world.now(), "speed": self.world.clock.speed})

    def clock(self) -> bottle.HTTPResponse:
        b = _body()
        if "set" in b:
            self.world.clock.set(parse_time(b["set"]))
        if "speed" in b:
            self.world.clock.set_speed(float(b["speed"]))
        if "advance_s" in b:
            self.world.clock.advance(float(b["advance_s"]))
        return self.clock_get()

    def faults_get(self) -> bottle.HTTPResponse:
        return _ok([r.describe() for r in self.world.faults])

    def faults_add(self) -> bottle.HTTPResponse:
        rules = [self.world.add_fault(r) for r in _items(_body(), "rules")]
        return _ok({"added": len(rules)})

    def faults_clear(self) -> bottle.HTTPResponse:
        self.world.clear_faults()
        return _ok()

    def purge(self) -> bottle.HTTPResponse:
        b = _body()
        n = self.world.purge(infohash=b.get("infohash"), item_id=b.get("item_id"),
                             file=b.get("file"), provider=b.get("provider", RD),
                             uncache=bool(b.get("uncache", True)))
        return _ok({"purged_files": n})

    def expire_links(self) -> bottle.HTTPResponse:
        b = _body()
        n = self.world.expire_links(b.get("provider", RD), b.get("token"),
                                    bool(b.get("all", False)), b.get("link"))
        return _ok({"expired": n})

    def traffic(self) -> bottle.HTTPResponse:
        b = _body()
        kwargs: dict[str, Any] = {}
        if "used" in b:
            kwargs["used"] = b["used"]
        if "limit" in b:
            kwargs["limit"] = b["limit"]
        acc = self.world.set_traffic(b["token"], **kwargs)
        return _ok({"token": acc.token, "used": acc.traffic_used_today,
                    "limit": acc.traffic_limit_bytes_per_day})

    def revoke(self) -> bottle.HTTPResponse:
        b = _body()
        self.world.revoke(b["token"], bool(b.get("revoked", True)))
        return _ok()

    def library(self) -> bottle.HTTPResponse:
        b = _body()
        ids = self.world.seed_library(b["token"], b.get("torrents", []))
        return _ok({"ids": ids})

    def knobs_get(self) -> bottle.HTTPResponse:
        return _ok(dict(self.world.knobs))

    def knobs_set(self) -> bottle.HTTPResponse:
        return _ok(self.world.set_knobs(**_body()))

    def log_get(self) -> bottle.HTTPResponse:
        q = bottle.request.query
        since = int(q.get("since") or 0)
        entries = self.world.log(since, q.getunicode("path_prefix") or "")
        return _ok({"entries": entries, "mark": self.world.log_mark()})

    def log_clear(self) -> bottle.HTTPResponse:
        self.world.clear_log()
        return _ok()

    def release(self) -> bottle.HTTPResponse:
        return _ok({"released": self.world.release_holds()})

    def state(self) -> bottle.HTTPResponse:
        detail = bottle.request.query.get("detail") in ("1", "true")
        return _ok(self.world.state(detail))


def build_control_app(world: World) -> bottle.Bottle:
    app = bottle.Bottle(catchall=True)
    app.default_error_handler = _json_error_handler
    ctl = _Control(world)
    for method, path, handler in ctl.routes():
        app.route("/__emu" + path, method, _control_guard(handler))
    return app


def _control_guard(fn: Callable[[], bottle.HTTPResponse]) -> Callable[[], bottle.HTTPResponse]:
    def wrapper() -> bottle.HTTPResponse:
        try:
            return fn()
        except (KeyError, ValueError, TypeError) as exc:
            return _ok({"error": f"{type(exc).__name__}: {exc}"}, 400)
    return wrapper


# ---------------------------------------------------------------------- server


# The base path each gateway provider client is configured with (its ``api_url``).
API_PATHS = {"realdebrid": RD_PREFIX, "alldebrid": "/v4", "torbox": "/v1/api",
             "debridlink": "/api/v2", "premiumize": "/api"}
KEYS = {"realdebrid": "rd", "alldebrid": "ad", "torbox": "tb", "debridlink": "dl", "premiumize": "pm"}


def stop_server(server: wsgi.Server, thread: threading.Thread | None) -> None:
    """Stop a cheroot server started on ``thread`` and wait for that thread to end."""
    server.stop()
    if thread is not None:
        thread.join(timeout=5)
    # cheroot keeps every server it ever made in logging.statistics; let this one go.
    getattr(logging, "statistics", {}).pop(f"Cheroot HTTPServer {id(server)}", None)


class _QuietServer(wsgi.Server):
    """cheroot writes errors to stderr; route them to logging instead."""

    def error_log(self, msg: str = "", level: int = 20, traceback: bool = False) -> None:
        log.log(level, "cheroot: %s", msg, exc_info=traceback)


class Emulator:
    """Real-Debrid API + CDN on one loopback listener, with a virtual clock.

    ``world`` gives tests direct in-process access to the same state the
    ``/__emu`` control plane manipulates.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, rate_limit: bool = True,
                 knobs: dict[str, Any] | None = None, advertise_origin: str | None = None,
                 numthreads: int = 48) -> None:
        initial = dict(knobs or {})
        if not rate_limit:
            initial["rate_limit"] = None
        self.host = host
        self.port = port
        self.world = World(initial)
        self.app = EmuApp(self.world)
        self._advertise = advertise_origin.rstrip("/") if advertise_origin else None
        self._numthreads = max(32, numthreads)
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        if self._advertise:
            return self._advertise
        return f"http://{self.host}:{self.port}"

    @property
    def rd_api_url(self) -> str:
        return self.origin + RD_PREFIX

    def api_url(self, provider: str) -> str:
        """The base URL a client of ``provider`` ("realdebrid", "alldebrid", ...) is given."""
        return self.origin + API_PATHS[provider]

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        server = _QuietServer((self.host, self.port), self.app, numthreads=self._numthreads,
                              max=self._numthreads, request_queue_size=1024, timeout=30,
                              shutdown_timeout=2)
        server.expiration_interval = 0.05   # cheroot's select timeout: how long stop() waits
        server.prepare()  # binds now, so an ephemeral port is known before serving
        self.port = int(server.bind_addr[1])
        self.world.origin = self.origin
        self._server = server
        self._thread = threading.Thread(target=server.serve, name="emulator-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        stop_server(server, self._thread)
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
