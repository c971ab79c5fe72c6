"""A threaded NNTP server (RFC 3977 / RFC 4643 reader subset) over an :class:`ArticleStore`.

Verbs: CAPABILITIES, MODE READER, AUTHINFO USER/PASS, STAT, BODY, ARTICLE, HEAD, GROUP,
DATE, QUIT; anything else is ``500``. Articles are named by message-id only (``<id>``).
Several servers may share one store (a primary and a backup with different ``missing``).
The server can be stopped and started again on the same port (a server that comes back).
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from .knobs import CapReply, Counters, Knobs, ServerStats, id_set
from .store import ArticleStore, bare_id
from .wire import TERMINATOR, dot_stuff

_PCRC = re.compile(rb"(=yend[^\r\n]*pcrc32=)([0-9A-Fa-f]{1,8})")
_MAX_LINE = 2048
_CAPS = ("VERSION 2", "READER", "AUTHINFO USER", "IMPLEMENTATION decypharr-emulator")


class _Closed(Exception):
    """The client went away or the server is stopping."""


class _Conn:
    """One client connection: line reads, paced writes, login state."""

    def __init__(self, server: NNTPServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.rfile = sock.makefile("rb")
        self.user: str | None = None
        self.authed = False
        self.group: str | None = None
        self._next_free = 0.0   # bandwidth pacing clock (monotonic seconds)

    def readline(self) -> bytes:
        line = self.rfile.readline(_MAX_LINE)
        if not line:
            raise _Closed
        return line

    def send(self, data: bytes) -> None:
        bw = self.server.knobs.bandwidth
        if not bw or bw <= 0:
            self._send_now(data)
            return
        # Pace by a clock that never banks idle time, so the cap holds over any window.
        chunk = max(1024, min(65536, int(bw / 20)))
        view = memoryview(data)
        for pos in range(0, len(data), chunk):
            piece = view[pos:pos + chunk]
            now = time.monotonic()
            self._next_free = max(self._next_free, now)
            if self._next_free > now and self.server.stopping.wait(self._next_free - now):
                raise _Closed
            self._send_now(piece)
            self._next_free += len(piece) / bw

    def _send_now(self, data: bytes | memoryview) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            raise _Closed from None
        self.server.counters.bump("bytes_sent", len(data))

    def reply(self, line: str) -> None:
        self.send(line.encode("utf-8") + b"\r\n")


Handler = Callable[[_Conn, str], bool]


class NNTPServer:
    """``NNTPServer(store, username=..., password=...).start()``; ``port`` is real after start."""

    def __init__(self, store: ArticleStore, *, name: str = "primary", host: str = "127.0.0.1",
                 port: int = 0, username: str | None = None, password: str | None = None,
                 max_connections: int | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.store = store
        self.name = name
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self._knobs = Knobs(username=username, password=password, max_connections=max_connections)
        self._knob_lock = threading.Lock()
        self.counters = Counters()
        self.stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._clients: dict[socket.socket, threading.Thread] = {}
        self._clients_lock = threading.Lock()
        self._handlers: dict[str, Handler] = {
            "CAPABILITIES": _capabilities, "MODE": _mode, "AUTHINFO": _authinfo,
            "STAT": _stat, "BODY": _body, "ARTICLE": _article, "HEAD": _head,
            "GROUP": _group, "DATE": _date, "QUIT": _quit,
        }

    # -- knobs ---------------------------------------------------------------------------
    @property
    def knobs(self) -> Knobs:
        return self._knobs

    def configure(self, **changes: Any) -> Knobs:
        """Change knobs at runtime, e.g. ``configure(latency=0.02, bandwidth=4e6)``.
        Id sets (``missing``, ``drop_mid_body``, ``bad_crc``) accept any iterable of ids."""
        for key in ("missing", "drop_mid_body", "bad_crc"):
            if key in changes:
                changes[key] = id_set(changes[key])
        with self._knob_lock:
            self._knobs = replace(self._knobs, **changes)
            return self._knobs

    def set_credentials(self, username: str | None, password: str | None) -> None:
        self.configure(username=username, password=password)

    def set_missing(self, ids: Iterable[str] = (), fraction: float = 0.0, seed: str = "") -> None:
        self.configure(missing=ids, missing_fraction=fraction, missing_seed=seed)

    def set_latency(self, seconds: float) -> None:
        self.configure(latency=seconds)

    def set_bandwidth(self, bytes_per_second: float | None) -> None:
        self.configure(bandwidth=bytes_per_second)

    def set_max_connections(self, limit: int | None, reply_at: CapReply = "greeting") -> None:
        self.configure(max_connections=limit, cap_reply_at=reply_at)

    def set_fail_login(self, fail: bool = True) -> None:
        self.configure(fail_login=fail)

    def set_drop_mid_body(self, ids: Iterable[str]) -> None:
        self.configure(drop_mid_body=ids)

    def set_bad_crc(self, ids: Iterable[str]) -> None:
        self.configure(bad_crc=ids)

    # -- counters ------------------------------------------------------------------------
    def stats(self) -> ServerStats:
        return self.counters.snapshot()

    def reset_stats(self) -> None:
        self.counters.reset()

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self) -> NNTPServer:
        if self._listener is not None:
            return self
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind((self.host, self.port))
        lst.listen(128)
        lst.settimeout(0.1)   # the accept loop looks at the stop flag this often
        self.port = lst.getsockname()[1]
        self.stopping.clear()
        self._listener = lst
        self._acceptor = threading.Thread(target=self._accept_loop, args=(lst,),
                                          name=f"nntp-{self.name}-accept", daemon=True)
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Close the listener and every client connection; the port is kept for a restart."""
        self.stopping.set()
        lst, self._listener = self._listener, None
        if self._acceptor is not None:
            self._acceptor.join(5)
            self._acceptor = None
        if lst is not None:
            lst.close()
        with self._clients_lock:
            clients = list(self._clients.items())
        for sock, _ in clients:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for _, thread in clients:
            thread.join(5)

    def __enter__(self) -> NNTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self, lst: socket.socket) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = lst.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._serve, args=(sock,),
                                      name=f"nntp-{self.name}-conn", daemon=True)
            with self._clients_lock:
                self._clients[sock] = thread
            thread.start()

    def _serve(self, raw: socket.socket) -> None:
        open_now = self.counters.opened()
        sock = raw
        conn: _Conn | None = None
        try:
            if self.ssl_context is not None:
                raw.settimeout(10)
                sock = self.ssl_context.wrap_socket(raw, server_side=True)
                sock.settimeout(None)
            conn = _Conn(self, sock)
            self._converse(conn, open_now)
        except (_Closed, OSError, ssl.SSLError):
            pass
        finally:
            if conn is not None and conn.authed:
                self.counters.end_session()
            self.counters.closed()
            with self._clients_lock:
                self._clients.pop(raw, None)
            for s in (sock, raw):
                try:
                    s.close()
                except OSError:
                    pass

    def reject(self, conn: _Conn) -> None:
        self.counters.bump("rejected")
        conn.reply("502 too many connections")

    def _converse(self, conn: _Conn, open_now: int) -> None:
        knobs = self._knobs
        if knobs.cap_reply_at == "greeting" and knobs.max_connections is not None \
                and open_now > knobs.max_connections:
            self.reject(conn)
            return
        conn.reply(f"200 {self.name} NNTP emulator ready (posting ok)")
        while not self.stopping.is_set():
            line = conn.readline().decode("utf-8", "replace").strip()
            verb, _, args = line.partition(" ")
            verb = verb.upper()
            self.counters.command(verb or "<empty>")
            wait = self._knobs.latency
            if wait > 0 and self.stopping.wait(wait):
                raise _Closed
            handler = self._handlers.get(verb)
            if handler is None:
                conn.reply("500 unknown command")
                continue
            if verb not in _OPEN_VERBS and self._knobs.username is not None and not conn.authed:
                conn.reply("480 authentication required")
                continue
            if not handler(conn, args.strip()):
                return


_OPEN_VERBS = frozenset({"CAPABILITIES", "MODE", "AUTHINFO", "QUIT", "DATE"})


def _capabilities(conn: _Conn, args: str) -> bool:
    caps = "\r\n".join(_CAPS).encode()
    conn.send(b"101 capability list follows\r\n" + dot_stuff(caps) + TERMINATOR)
    return True


def _mode(conn: _Conn, args: str) -> bool:
    conn.reply("200 reader mode, posting ok" if args.upper() == "READER" else "501 unknown mode")
    return True


def _authinfo(conn: _Conn, args: str) -> bool:
    sub, _, value = args.partition(" ")
    server, knobs = conn.server, conn.server.knobs
    if sub.upper() == "USER":
        conn.user = value
        conn.reply("381 password required")
        return True
    if sub.upper() != "PASS":
        conn.reply("501 unknown AUTHINFO subcommand")
        return True
    if conn.user is None:
        conn.reply("482 AUTHINFO USER first")
        return True
    if knobs.fail_login or (knobs.username is not None
                            and (conn.user, value) != (knobs.username, knobs.password)):
        server.counters.bump("auth_failures")
        conn.user = None
        conn.reply("481 authentication failed")
        return True
    if not conn.authed:
        cap = knobs.max_connections if knobs.cap_reply_at == "login" else None
        if not server.counters.try_session(cap):
            server.reject(conn)
            return False
    conn.authed = True
    conn.reply("281 authentication accepted")
    return True


def _lookup(conn: _Conn, args: str) -> str | None:
    """The message-id of an article this server has, after answering the failure itself."""
    if not args:
        conn.reply("420 no current article")
        return None
    if not (args.startswith("<") and args.endswith(">")):
        conn.reply("423 no article with that number" if conn.group else "412 no newsgroup selected")
        return None
    mid = bare_id(args)
    if conn.server.knobs.is_missing(mid) or mid not in conn.server.store:
        conn.server.counters.bump("missing")
        conn.reply("430 no such article")
        return None
    return mid


def _stat(conn: _Conn, args: str) -> bool:
    mid = _lookup(conn, args)
    if mid is not None:
        conn.reply(f"223 0 <{mid}>")
    return True


def _send_article(conn: _Conn, args: str, code: int, head: bool, body: bool) -> bool:
    mid = _lookup(conn, args)
    if mid is None:
        return True
    server, knobs = conn.server, conn.server.knobs
    art = server.store.get(mid)
    if art is None:   # removed since the lookup
        conn.reply("430 no such article")
        return True
    parts: list[bytes] = []
    if head:
        parts.append(art.head())
    if head and body:
        parts.append(b"\r\n")
    if body:
        text = art.body()
        if mid in knobs.bad_crc:
            text = _PCRC.sub(lambda m: m[1] + b"%08x" % (int(m[2], 16) ^ 0xFFFFFFFF), text)
        parts.append(text)
    payload = dot_stuff(b"".join(parts))
    status = f"{code} 0 <{mid}>\r\n".encode()
    if body and mid in knobs.drop_mid_body:
        conn.send(status + payload[: len(payload) // 2])
        server.counters.bump("dropped")
        conn.sock.shutdown(socket.SHUT_RDWR)
        return False
    conn.send(status + payload + TERMINATOR)
    if body:
        server.counters.served(mid)
    return True


def _body(conn: _Conn, args: str) -> bool:
    return _send_article(conn, args, 222, head=False, body=True)


def _article(conn: _Conn, args: str) -> bool:
    return _send_article(conn, args, 220, head=True, body=True)


def _head(conn: _Conn, args: str) -> bool:
    return _send_article(conn, args, 221, head=True, body=False)


def _group(conn: _Conn, args: str) -> bool:
    if not args:
        conn.reply("501 GROUP needs a name")
        return True
    conn.group = args.split()[0]
    count = len(conn.server.store)
    conn.reply(f"211 {count} 1 {max(count, 1)} {conn.group}")
    return True


def _date(conn: _Conn, args: str) -> bool:
    conn.reply("111 " + time.strftime("%Y%m%d%H%M%S", time.gmtime()))
    return True


def _quit(conn: _Conn, args: str) -> bool:
    conn.reply("205 bye")
    return False
