"""One call in flight per key: the first caller leads, later callers wait for its result.

The project's one single-flight type, used by the chunk cache (a chunk being fetched) and the
link resolver (a link being unrestricted). ``SingleFlight`` has no lock of its own on
purpose: its owner claims under the lock that also guards its cache, so "is it cached?" and
"is someone already fetching it?" are one atomic look, and the lock is never held while the
leader works or a waiter waits.

A flight ends one of three ways: ``succeed(value)``, ``fail(exc)`` (every waiter re-raises
the same exception, like a ``concurrent.futures.Future``) or ``abandon()`` (no result:
waiters try again themselves). The owner may end a flight before it leaves the table (the
chunk cache hands bytes to waiters before writing them to disk, and keeps the flight listed
until the write is recorded, so nobody fetches the chunk again meanwhile).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Flight(Generic[V]):
    """One call in flight; waiters block on ``done`` (through their clock, if they have one)."""

    __slots__ = ("done", "value", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: V | None = None
        self.error: BaseException | None = None

    def succeed(self, value: V) -> None:
        self.value = value
        self.done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()

    def abandon(self) -> None:
        self.done.set()

    def outcome(self) -> V | None:
        """After ``done``: the value, ``None`` when abandoned; re-raises the leader's error."""
        if self.error is not None:
            raise self.error
        return self.value


class SingleFlight(Generic[K, V]):
    """The flights in progress, by key. Not thread-safe: call it under the owner's lock."""

    __slots__ = ("_flights",)

    def __init__(self) -> None:
        self._flights: dict[K, Flight[V]] = {}

    def join(self, key: K) -> tuple[Flight[V], bool]:
        """The key's flight and whether the caller leads it (it was not in flight yet)."""
        flight = self._flights.get(key)
        if flight is not None:
            return flight, False
        flight = self._flights[key] = Flight()
        return flight, True

    def get(self, key: K) -> Flight[V] | None:
        return self._flights.get(key)

    def land(self, key: K) -> Flight[V] | None:
        """Take the key's flight off the table (its owner ends it, before or after)."""
        return self._flights.pop(key, None)

    def __len__(self) -> int:
        return len(self._flights)
