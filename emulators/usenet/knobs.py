"""Runtime knobs and counters of one emulated NNTP server.

Knobs are replaced whole under a lock (sets become frozensets), so a test can change them
while connections are being served. Counters are read as a :class:`ServerStats` snapshot.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from .store import bare_id

CapReply = Literal["greeting", "login"]


@dataclass(frozen=True)
class Knobs:
    username: str | None = None
    password: str | None = None
    fail_login: bool = False             # every AUTHINFO PASS answers 481
    missing: frozenset[str] = frozenset()  # message-ids this server answers 430 for
    missing_fraction: float = 0.0        # plus this share of all ids (stable hash of id + seed)
    missing_seed: str = ""
    latency: float = 0.0                 # seconds before every reply (not the greeting)
    bandwidth: float | None = None       # bytes/s per connection
    max_connections: int | None = None   # beyond it: 502 at the greeting (open connections)
    # or after AUTHINFO PASS (logged-in connections; a server without a login has none)
    cap_reply_at: CapReply = "greeting"
    drop_mid_body: frozenset[str] = frozenset()  # send half the body, then close
    bad_crc: frozenset[str] = frozenset()        # serve with a wrong =yend pcrc32

    def is_missing(self, message_id: str) -> bool:
        mid = bare_id(message_id)
        if mid in self.missing:
            return True
        if self.missing_fraction <= 0:
            return False
        digest = hashlib.sha1(f"{self.missing_seed}\0{mid}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.missing_fraction


def id_set(ids: Iterable[str]) -> frozenset[str]:
    return frozenset(bare_id(i) for i in ids)


@dataclass(frozen=True)
class ServerStats:
    """A snapshot. ``connections_peak`` counts every TCP connection open at once, refused
    ones included: a client that keeps within the limit never pushes it above the limit."""

    connections_current: int = 0
    connections_peak: int = 0
    connections_total: int = 0
    rejected: int = 0                   # 502 answers to the connection cap
    auth_failures: int = 0              # 481 answers
    commands: dict[str, int] = field(default_factory=dict)  # by upper-case verb
    articles_served: int = 0            # complete BODY/ARTICLE answers
    served_by_id: dict[str, int] = field(default_factory=dict)
    missing: int = 0                    # 430 answers
    dropped: int = 0                    # connections cut mid-body
    bytes_sent: int = 0


class Counters:
    """The mutable side of :class:`ServerStats`, one lock for all."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._stats = ServerStats()
        self._commands: Counter[str] = Counter()
        self._served: Counter[str] = Counter()
        self._sessions = 0   # connections logged in now (the cap at login counts these)

    def try_session(self, cap: int | None) -> bool:
        """Admit one more logged-in connection unless ``cap`` are already logged in."""
        with self.lock:
            if cap is not None and self._sessions >= cap:
                return False
            self._sessions += 1
            return True

    def end_session(self) -> None:
        with self.lock:
            self._sessions -= 1

    def opened(self) -> int:
        """Count a new connection; returns how many are open now, this one included."""
        with self.lock:
            s = self._stats
            cur = s.connections_current + 1
            self._stats = replace(s, connections_current=cur, connections_total=s.connections_total + 1,
                                  connections_peak=max(s.connections_peak, cur))
            return cur

    def closed(self) -> None:
        with self.lock:
            self._stats = replace(self._stats, connections_current=self._stats.connections_current - 1)

    def current(self) -> int:
        with self.lock:
            return self._stats.connections_current

    def bump(self, name: str, n: int = 1) -> None:
        with self.lock:
            self._stats = replace(self._stats, **{name: getattr(self._stats, name) + n})

    def command(self, verb: str) -> None:
        with self.lock:
            self._commands[verb] += 1

    def served(self, message_id: str) -> None:
        with self.lock:
            self._served[message_id] += 1
            self._stats = replace(self._stats, articles_served=self._stats.articles_served + 1)

    def snapshot(self) -> ServerStats:
        with self.lock:
            return replace(self._stats, commands=dict(self._commands), served_by_id=dict(self._served))

    def reset(self) -> None:
        """Zero everything but the connections open now (they are still open)."""
        with self.lock:
            cur = self._stats.connections_current
            self._stats = ServerStats(connections_current=cur, connections_peak=cur)
            self._commands.clear()
            self._served.clear()
