"""Hedged fetches: an article that is late is asked again on another connection; the first answer wins.

A ``Fetch`` is one article someone wants. Its first attempt starts at once; when a command
has been out for ``hedge_after`` s without its answer (slow server, stalled connection), the
``Hedger`` starts one more attempt, told which servers are busy with it so another primary is
asked first. The first whole article ends the fetch and cancels the other attempt: its wait
for a connection is withdrawn, or its socket is shut so the slot frees at once. The fetch
fails only when every attempt has failed (``ArticleMissing`` wins over ``UsenetUnavailable``:
one walk over all servers that found the article missing everywhere is the verdict).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable

from gateway.clock import Clock
from gateway.usenet.errors import ArticleMissing, Cancelled, UsenetUnavailable
from gateway.usenet.pool import Ticket
from gateway.usenet.yenc import YencPart

IDLE_WAIT = 60.0   # the hedger's nap with nothing scheduled (a schedule wakes it anyway)

Attempt = Callable[[frozenset[str], "Fetch"], YencPart]   # (servers to avoid, the fetch) -> the part


class Fetch:
    def __init__(self, message_id: str, clock: Clock, hedger: Hedger, hedge_after: float, attempt: Attempt) -> None:
        self.message_id = message_id
        self._clock = clock
        self._hedger = hedger
        self._hedge_after = hedge_after
        self._attempt = attempt
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._result: YencPart | None = None
        self._error: BaseException | None = None
        self._running = 0
        self._hedged = False
        self._tickets: dict[Ticket, str] = {}   # requests in flight -> their server
        self._inline = False                    # the first attempt runs in wait()
        self.attempts = 0

    def start(self, inline: bool = False) -> None:
        """Start the first attempt on a thread of its own, or (``inline``) in the thread that calls
        ``wait``: a caller that only waits saves a thread hand-off per article. Hedges always get a thread."""
        if not inline:
            self._launch(frozenset())
            return
        with self._lock:
            self._running += 1
            self.attempts += 1
            self._inline = True

    def _launch(self, avoid: frozenset[str]) -> None:
        with self._lock:
            self._running += 1
            self.attempts += 1
        threading.Thread(target=self._run, args=(avoid,), name=f"usenet-fetch-{self.attempts}", daemon=True).start()

    def _run(self, avoid: frozenset[str]) -> None:
        try:
            part = self._attempt(avoid, self)
        except Cancelled:
            self._end(None, None)
        except BaseException as exc:   # the caller re-raises it in wait()
            self._end(None, exc)
        else:
            self._end(part, None)

    def _end(self, part: YencPart | None, error: BaseException | None) -> None:
        with self._lock:
            self._running -= 1
            if self._done.is_set():
                return
            if part is not None:
                self._result = part
            elif error is not None and (self._error is None or isinstance(error, ArticleMissing)):
                self._error = error
            if part is None and self._running > 0:
                return   # another attempt may still find it
            self._done.set()
            losers = list(self._tickets)
        for ticket in losers:
            ticket.cancel()

    # ----------------------------------------------- called by the attempts

    def track(self, ticket: Ticket, server: str) -> None:
        with self._lock:
            if not self._done.is_set():
                self._tickets[ticket] = server
                return
        ticket.cancel()

    def untrack(self, ticket: Ticket) -> None:
        with self._lock:
            self._tickets.pop(ticket, None)

    def sent(self, ticket: Ticket) -> None:
        """A command went out on ``ticket``: hedge if its answer is not in after ``hedge_after``."""
        if self._hedge_after > 0 and ticket.sent_at is not None:
            self._hedger.schedule(ticket.sent_at + self._hedge_after, self, ticket)

    def hedge(self, ticket: Ticket) -> None:
        with self._lock:
            if self._done.is_set() or self._hedged or ticket.finished or ticket.cancelled:
                return
            self._hedged = True
            busy = frozenset(self._tickets.values())
        self._launch(busy)

    # ------------------------------------------------------ for the caller

    def wait(self) -> YencPart:
        with self._lock:
            inline, self._inline = self._inline, False
        if inline:
            self._run(frozenset())   # ends at once when the fetch was cancelled before it started
        while not self._done.is_set():
            self._clock.wait(self._done, IDLE_WAIT)
        if self._result is not None:
            return self._result
        if self._error is not None:
            raise self._error
        raise UsenetUnavailable(f"<{self.message_id}>: the request was cancelled", code="cancelled")

    def withdraw(self) -> bool:
        """Cancel unless an attempt already holds a connection: an answer on its way costs less to
        let finish (it may be read again soon) than the reconnect an aborted read needs. True when cancelled."""
        with self._lock:
            if self._done.is_set() or any(ticket.conn is not None for ticket in self._tickets):
                return False
        self.cancel()
        return True

    def cancel(self) -> None:
        """Nobody wants the article any more (done, or a seek): stop whatever still runs for it."""
        with self._lock:
            if not self._done.is_set():
                self._error = Cancelled()
                self._done.set()
            tickets = list(self._tickets)
        for ticket in tickets:
            ticket.cancel()


class Hedger:
    """One thread that starts the hedges when they fall due (on the injected clock)."""

    def __init__(self, clock: Clock, stop: threading.Event) -> None:
        self._clock = clock
        self._stop = stop
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._due: list[tuple[float, int, Fetch, Ticket]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, when: float, fetch: Fetch, ticket: Ticket) -> None:
        with self._lock:
            heapq.heappush(self._due, (when, next(self._seq), fetch, ticket))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="usenet-hedger", daemon=True)
                self._thread.start()
        self._event.set()

    def wake(self) -> None:
        self._event.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._event.clear()
            due: list[tuple[Fetch, Ticket]] = []
            with self._lock:
                now = self._clock.monotonic()
                while self._due and self._due[0][0] <= now:
                    _, _, fetch, ticket = heapq.heappop(self._due)
                    due.append((fetch, ticket))
                wait = self._due[0][0] - now if self._due else IDLE_WAIT
            for fetch, ticket in due:
                fetch.hedge(ticket)
            if not due:
                self._clock.wait(self._event, wait)
