"""``Usenet``: the one façade between the gateway and the user's NNTP servers.

Where an article is asked (``_Chain``): primaries in ``priority`` order, then backups, so a
backup is asked only when every primary lacks the article or cannot be used. A ``430``/``423``
or a damaged article (bad CRC, truncated) sends the request on to the next server; after one
server of a ``backbone`` said 430 the others of that backbone are skipped (they hold the same
articles). A connection that breaks mid-answer is retried once on a fresh connection of the
same server, then the next server is asked. The verdict: an article that no server had is
``ArticleMissing``; if some server could not be asked at all, we cannot tell, so it is
``UsenetUnavailable``.

Hedging (``Fetch``): ``hedge_after`` s after a ``BODY`` went out without its answer, the
article is asked again on another connection (another primary first, else the same server);
the first whole answer wins and the loser's read is aborted, freeing its connection slot.

Each request runs in its own short-lived thread; every limit is the pools' (per server, by
lane) and ``stream_connections`` (per ``bodies`` call), so no thread pool queue can put a
reader's article behind background work.
"""

from __future__ import annotations

import itertools
import logging
import ssl
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from gateway.clock import Clock
from gateway.providers.budget import Lane, current_lane
from gateway.usenet.config import UsenetServerConfig
from gateway.usenet.errors import ArticleMissing, Cancelled, UsenetUnavailable
from gateway.usenet.hedge import Fetch, Hedger
from gateway.usenet.nntp import ArticleNotFound, AuthFailed, Connection, NNTPError, TooManyConnections
from gateway.usenet.pool import ServerPool, Ticket
from gateway.usenet.yenc import DamagedArticle, YencPart

log = logging.getLogger(__name__)

TRIES_PER_SERVER = 2      # a dropped connection is retried once on a fresh one before the next server
HOUSEKEEPING = 10.0       # how often idle connections are looked at (they close after pool.IDLE_TIMEOUT)
T = TypeVar("T")
_Op = Callable[[Connection, str], T]   # one command on one connection


class _Missing(Exception):
    """Not at this server (430, or damaged): ask the next."""


class Usenet:
    """Articles from the user's servers, within each server's connection cap; thread-safe."""

    def __init__(self, servers: Sequence[UsenetServerConfig], clock: Clock, *, stream_connections: int = 15,
                 timeout: float = 10.0, hedge_after: float = 1.5,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._clock = clock
        self._ssl_context = ssl_context   # None: the system's trust store
        self._timeout = timeout
        self.hedge_after = hedge_after
        self.stream_connections = max(1, stream_connections)
        ordered = sorted(enumerate(servers), key=lambda item: (item[1].backup, item[1].priority, item[0]))
        self._pools = [ServerPool(server, clock, timeout=timeout, connector=self._connect) for _, server in ordered]
        self._stop = threading.Event()
        self._hedger = Hedger(clock, self._stop)
        self._housekeeper = threading.Thread(target=self._housekeep, name="usenet-idle", daemon=True)
        self._housekeeper.start()

    # -------------------------------------------------------------- the API

    def body(self, message_id: str, *, lane: Lane | None = None) -> YencPart:
        """One article, decoded and CRC-checked; ``ArticleMissing`` or ``UsenetUnavailable``."""
        fetch = self._started(message_id, current_lane() if lane is None else lane)
        try:
            return fetch.wait()
        finally:
            fetch.cancel()

    def start_body(self, message_id: str, *, lane: Lane | None = None, inline: bool = False) -> Fetch:
        """One article: ``wait()`` for it, ``withdraw()``/``cancel()`` it when nobody wants it any more
        (a reader that seeks away). ``inline``: the first attempt runs in the thread that waits."""
        return self._started(message_id, current_lane() if lane is None else lane, inline)

    def bodies(self, message_ids: Sequence[str], *, lane: Lane | None = None) -> Iterator[YencPart]:
        """Articles in the given order, up to ``stream_connections`` fetched at once.

        Closing the generator early (a seek) cancels the fetches still queued or in flight.
        """
        which = current_lane() if lane is None else lane
        pending = iter(message_ids)
        window: deque[Fetch] = deque()
        try:
            for message_id in itertools.islice(pending, self.stream_connections):
                window.append(self._started(message_id, which))
            while window:
                part = window[0].wait()
                window.popleft()
                following = next(pending, None)
                if following is not None:
                    window.append(self._started(following, which))
                yield part
        finally:
            for fetch in window:
                fetch.cancel()

    def stat(self, message_id: str, *, lane: Lane | None = None) -> bool:
        """True when a server has the article, False when none has; ``UsenetUnavailable`` when we cannot tell."""
        which = current_lane() if lane is None else lane
        try:
            _Chain(self, message_id, which, None).run(_stat)
        except ArticleMissing:
            return False
        return True

    def check_login(self, server: UsenetServerConfig) -> None:
        """Connect and log in once (the settings page's live check); ``UsenetUnavailable`` saying why not."""
        try:
            conn = self._connect(server, self._timeout)
        except AuthFailed as exc:
            raise UsenetUnavailable(f"{server.name}: login refused ({exc})", code="login_refused") from exc
        except TooManyConnections as exc:
            raise UsenetUnavailable(f"{server.name}: the server refused the connection (502: too many "
                                    f"connections or no access): {exc}", code="too_many_connections") from exc
        except NNTPError as exc:
            raise UsenetUnavailable(f"{server.name}: {exc}") from exc
        conn.quit()

    def health(self) -> dict[str, dict[str, object]]:
        return {pool.server.name: pool.health() for pool in self._pools}

    def reap_idle(self) -> int:
        """Close connections idle past their time now (also done every ``HOUSEKEEPING`` s)."""
        return sum(pool.reap() for pool in self._pools)

    def close(self) -> None:
        self._stop.set()
        self._hedger.wake()
        for pool in self._pools:
            pool.close()

    # ------------------------------------------------------------ internals

    @property
    def pools(self) -> list[ServerPool]:
        return list(self._pools)

    def _connect(self, server: UsenetServerConfig, timeout: float) -> Connection:
        return Connection.open(server, timeout, self._ssl_context)

    def _started(self, message_id: str, which: Lane, inline: bool = False) -> Fetch:
        """Ask for one article in the background (with a hedge when it is late)."""
        fetch = Fetch(message_id, self._clock, self._hedger, self.hedge_after,
                      lambda avoid, f: _Chain(self, message_id, which, f, avoid).run(_body))
        fetch.start(inline)
        return fetch

    def _housekeep(self) -> None:
        while not self._stop.is_set():
            self._clock.wait(self._stop, HOUSEKEEPING)
            if not self._stop.is_set():
                self.reap_idle()


def _body(conn: Connection, message_id: str) -> YencPart:
    return conn.body(message_id)


def _stat(conn: Connection, message_id: str) -> bool:
    if not conn.stat(message_id):
        raise ArticleNotFound(f"STAT <{message_id}>: 430", 430)
    return True


class _Chain:
    """One walk over the servers for one request (the first try, or a hedge)."""

    def __init__(self, owner: Usenet, message_id: str, lane: Lane, fetch: Fetch | None,
                 avoid: frozenset[str] = frozenset()) -> None:
        self._owner = owner
        self._id = message_id
        self._lane = lane
        self._fetch = fetch
        self._avoid = avoid

    def _order(self) -> list[ServerPool]:
        pools = self._owner.pools
        if not self._avoid:
            return pools
        # A hedge: another primary first; the busy one last among the primaries; backups keep their place.
        primaries = [p for p in pools if not p.server.backup]
        first = [p for p in primaries if p.server.name not in self._avoid]
        last = [p for p in primaries if p.server.name in self._avoid]
        return first + last + [p for p in pools if p.server.backup]

    def run(self, op: _Op[T]) -> T:
        missing_backbones: set[str] = set()
        missing: list[str] = []
        unavailable: list[str] = []
        for pool in self._order():
            server = pool.server
            if server.backbone and server.backbone in missing_backbones:
                continue
            try:
                return self._on_server(pool, op)
            except _Missing as exc:
                missing.append(f"{server.name}: {exc}")
                if server.backbone:
                    missing_backbones.add(server.backbone)
            except UsenetUnavailable as exc:
                unavailable.append(str(exc))
        if unavailable:
            raise UsenetUnavailable(f"<{self._id}>: no server could answer: {'; '.join(unavailable)}"
                                    + (f" (missing at {'; '.join(missing)})" if missing else ""))
        if not missing:
            raise UsenetUnavailable("no usenet servers are configured", code="no_servers")
        raise ArticleMissing(f"article <{self._id}> is missing at every server ({'; '.join(missing)})",
                             message_id=self._id)

    def _on_server(self, pool: ServerPool, op: _Op[T]) -> T:
        last = ""
        for _ in range(TRIES_PER_SERVER):
            ticket = Ticket(self._lane)
            if self._fetch is not None:
                self._fetch.track(ticket, pool.server.name)
            try:
                conn = pool.acquire(ticket)
            finally:
                if self._fetch is not None and ticket.cancelled:
                    self._fetch.untrack(ticket)
            try:
                return self._ask(pool, conn, ticket, op)
            except _Retry as exc:
                last = str(exc)
            finally:
                ticket.finished = True
                if self._fetch is not None:
                    self._fetch.untrack(ticket)
        raise UsenetUnavailable(f"{pool.server.name}: {last}")

    def _ask(self, pool: ServerPool, conn: Connection, ticket: Ticket, op: _Op[T]) -> T:
        ticket.attach(conn)
        ticket.sent_at = self._owner._clock.monotonic()
        if self._fetch is not None:
            self._fetch.sent(ticket)
        try:
            result = op(conn, self._id)
        except ArticleNotFound as exc:
            self._give_back(pool, conn, ticket)
            pool.count(missing=1)
            raise _Missing(str(exc.code or "430")) from exc
        except DamagedArticle as exc:
            self._give_back(pool, conn, ticket)   # the answer was read whole: the connection is in step
            pool.count(damaged=1)
            log.warning("%s: %s", pool.server.name, exc)
            raise _Missing(str(exc)) from exc
        except NNTPError as exc:
            ticket.attach(None)
            pool.release(conn, reuse=False)
            if ticket.cancelled:
                raise Cancelled() from exc
            pool.note_failure(str(exc))
            raise _Retry(str(exc)) from exc
        except BaseException:
            ticket.attach(None)
            pool.release(conn, reuse=False)
            raise
        self._give_back(pool, conn, ticket)
        pool.note_success()
        if isinstance(result, YencPart):
            pool.count(articles=1, nbytes=len(result.data))
        return result

    @staticmethod
    def _give_back(pool: ServerPool, conn: Connection, ticket: Ticket) -> None:
        """Return a connection whose answer was read whole, unless a cancel shut it meanwhile.

        Detaching first means no later cancel can shut it while someone else uses it.
        """
        ticket.attach(None)
        pool.release(conn, reuse=not ticket.cancelled)


class _Retry(Exception):
    """The connection failed mid-command: try a fresh one."""
