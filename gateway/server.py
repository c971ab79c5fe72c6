"""One cheroot server, one port: WebDAV and the Bottle app as sibling WSGI apps.

``PathInfoDispatcher`` moves the matched prefix into SCRIPT_NAME, so Bottle's
plugins and error handling never wrap WebDAV responses. In front of it,
``utf8_paths`` refuses a path that is not UTF-8 for every app at once, and
``cut_short`` turns a read that fails after an answer's first bytes (a usenet article
missing deep inside a range, contract §8) into one log line and a closed connection.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

from cheroot import wsgi

from gateway.httpconn import Connection

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.0005   # seconds a thread may hold the interpreter while others wait
MIN_THREADS = 16
MAX_THREADS = 128
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8   # glibc's mallopt parameter number (malloc.h)


def limit_malloc_arenas() -> bool:
    """For the serving process, before it starts threads: glibc gives each thread that
    allocates under contention its own arena (up to 8 per core), and freed memory in them is
    rarely returned, so a server with dozens of request and worker threads grows far past
    what it uses (a 100,000-torrent library: 1.3 GB with the default, under 1 GB with 2).
    scripts/run and the image export MALLOC_ARENA_MAX; a pip user running the console
    script does not, so the process sets it for itself. An explicit MALLOC_ARENA_MAX wins;
    other C libraries (musl) have no arenas and nothing to set."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return bool(libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS))
    except (OSError, AttributeError):
        return False


def tune_interpreter() -> None:
    """For the serving process (the CLI), once: request threads wait for the interpreter after
    every socket call, and with the default 5 ms switch interval a sync parsing a
    100,000-torrent listing made each PROPFIND wait ~20 ms. A shorter interval hands the
    interpreter over sooner, at a small cost in throughput for the background work."""
    sys.setswitchinterval(SWITCH_INTERVAL)


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_NOT_UTF8 = json.dumps({"error": "path is not valid UTF-8", "code": 400}).encode()


def _is_utf8(environ: dict[str, Any]) -> bool:
    """The decoded PATH_INFO, and for OPTIONS the raw request target: cheroot percent-decodes
    every other method's target into PATH_INFO (all but ``%2F``, which is ASCII), but leaves
    an OPTIONS request's encoded, so only its target shows the bytes."""
    decoded = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    try:
        decoded.encode("latin-1").decode("utf-8")
        if environ.get("REQUEST_METHOD") == "OPTIONS":
            target = str(environ.get("REQUEST_URI", "")).split("?", 1)[0]
            unquote_to_bytes(target.encode("latin-1")).decode("utf-8")
    except UnicodeError:
        return False
    return True


def utf8_paths(app: WsgiApp) -> WsgiApp:
    """A complete 400 for a request path whose bytes are not UTF-8 (``%c0%ae``, ``%ff``, ``%e2%82``).

    cheroot hands PATH_INFO over as the percent-decoded bytes read as latin-1. WsgiDAV
    re-decodes it as UTF-8 and, failing, raised before starting a response, so cheroot
    closed the connection with no answer; Bottle decodes with errors ignored, so
    ``/api/browse/%c0%ae`` quietly became ``/api/browse/``. No app ever sees such a path now.
    """
    def checked(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not _is_utf8(environ):
            start_response("400 Bad Request", [("Content-Type", "application/json"),
                                               ("Content-Length", str(len(_NOT_UTF8)))])
            return [] if environ.get("REQUEST_METHOD") == "HEAD" else [_NOT_UTF8]
        return app(environ, start_response)
    return checked


class AnswerCutShort(Exception):
    """A body failed after some of it went out: cheroot closes the connection, so the client
    sees fewer bytes than announced (never a well-formed short answer). Logged once here."""


def _cause(exc: BaseException) -> BaseException:
    """The first error in the chain (WsgiDAV answers a failed read with a second
    ``start_response``, a RuntimeError whose context is the read's error)."""
    while exc.__context__ is not None and isinstance(exc, RuntimeError):
        exc = exc.__context__
    return exc


def _guarded(environ: dict[str, Any], body: Iterable[bytes]) -> Iterator[bytes]:
    sent = 0
    try:
        for chunk in body:
            sent += len(chunk)
            yield chunk
    except Exception as exc:
        if not sent:
            raise
        log.warning("%s %s: answer cut short after %d bytes: %s", environ.get("REQUEST_METHOD"),
                    environ.get("PATH_INFO"), sent, _cause(exc))
        raise AnswerCutShort(str(exc)) from None
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def cut_short(app: WsgiApp) -> WsgiApp:
    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return _guarded(environ, app(environ, start_response))
    return guarded


class _Server(wsgi.Server):
    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        """cheroot's own messages through our logging (so through redaction), not raw stderr;
        an answer cut short was logged already, without a traceback."""
        if isinstance(sys.exc_info()[1], AnswerCutShort):
            return
        log.log(level, "http: %s", msg, exc_info=traceback and sys.exc_info()[1] is not None)


def make_server(bind: str, port: int, apps: dict[str, Any]) -> wsgi.Server:
    dispatcher = cut_short(utf8_paths(wsgi.PathInfoDispatcher(apps)))
    server = _Server((bind, port), dispatcher, numthreads=MIN_THREADS, max=MAX_THREADS,
                         request_queue_size=128, timeout=60, shutdown_timeout=5)
    server.server_name = "decypharr"
    server.ConnectionClass = Connection   # cheroot's parsing, cheaper socket I/O (gateway/httpconn.py)
    # The select() timeout of cheroot's loop; also how long stop() waits for it.
    server.expiration_interval = 0.05
    return server


class ServerThread:
    """Runs a cheroot server in a thread; ``port`` is known once started."""

    def __init__(self, server: wsgi.Server) -> None:
        self._server = server
        self._thread = threading.Thread(target=self._serve, name="http", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    def start(self) -> ServerThread:
        self._server.prepare()      # binds now, so a busy port fails here, in the caller
        self._thread.start()
        return self

    def _serve(self) -> None:
        try:
            self._server.serve()
        except BaseException as exc:   # reported by stop(); the thread must not die silently
            self._error = exc
            log.error("http server stopped: %s", exc)

    def stop(self) -> None:
        self._server.stop()
        self._thread.join(10)
        # cheroot registers every server in logging.statistics and never lets go,
        # which would keep a stopped gateway (library and all) alive.
        statistics = getattr(logging, "statistics", {})
        statistics.pop(f"Cheroot HTTPServer {id(self._server)}", None)
