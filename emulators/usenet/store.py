"""The article store one or more emulated NNTP servers share (primary, backup, ...).

An article keeps its *encoded* body: yEnc text with CRLF lines, not dot-stuffed, no
terminator (exactly what a client gets after undoing the wire framing). Big releases give
a ``producer`` instead of bytes, so a 10 GiB bench release costs memory only per article
served. Message-ids are kept without angle brackets, as NZB files write them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

BodySource = bytes | Callable[[], bytes]


def bare_id(message_id: str) -> str:
    """``<abc@x>`` and ``abc@x`` name the same article."""
    mid = message_id.strip()
    if mid.startswith("<") and mid.endswith(">"):
        mid = mid[1:-1]
    return mid


@dataclass(frozen=True)
class Article:
    message_id: str
    source: BodySource
    headers: Mapping[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        """The encoded body (producers are called on every serve: nothing is cached)."""
        return self.source if isinstance(self.source, bytes) else self.source()

    def head(self) -> bytes:
        """Header block, CRLF lines; Message-ID always present and first."""
        lines = [f"Message-ID: <{self.message_id}>"]
        lines += [f"{k}: {v}" for k, v in self.headers.items() if k.lower() != "message-id"]
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")


class ArticleStore:
    """Thread-safe message-id → :class:`Article` map."""

    def __init__(self, articles: Iterable[Article] = ()) -> None:
        self._lock = threading.Lock()
        self._articles: dict[str, Article] = {}
        self.add_all(articles)

    def add(self, message_id: str, source: BodySource,
            headers: Mapping[str, str] | None = None) -> Article:
        art = Article(bare_id(message_id), source, dict(headers or {}))
        with self._lock:
            self._articles[art.message_id] = art
        return art

    def add_all(self, articles: Iterable[Article]) -> None:
        with self._lock:
            for art in articles:
                self._articles[bare_id(art.message_id)] = art

    def get(self, message_id: str) -> Article | None:
        with self._lock:
            return self._articles.get(bare_id(message_id))

    def remove(self, message_id: str) -> None:
        with self._lock:
            self._articles.pop(bare_id(message_id), None)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._articles)

    def __contains__(self, message_id: object) -> bool:
        return isinstance(message_id, str) and self.get(message_id) is not None

    def __len__(self) -> int:
        with self._lock:
            return len(self._articles)

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids())
