"""The queue of callers waiting for a slot, served by lane and then by arrival.

An account's request ``Budget`` and a usenet server's connection pool both let callers
wait their turn: interactive reads before imports before background work, first come
first served inside a lane. The order, the wake-up of every waiter when something
changes, and the withdrawal of one that gives up are this one piece of code.
"""

from __future__ import annotations

import bisect
import threading
from typing import Protocol, TypeVar


class Waiter(Protocol):
    @property
    def rank(self) -> tuple[int, int]: ...   # (lane, arrival): lower is served first

    @property
    def event(self) -> threading.Event: ...  # set to make the waiter look again


W = TypeVar("W", bound=Waiter)


class LaneQueue(list[W]):
    """Waiters kept sorted by ``rank``; the owner's lock guards it (``withdraw`` takes it)."""

    def join(self, me: W) -> None:
        bisect.insort(self, me, key=lambda waiter: waiter.rank)

    def wake(self) -> None:
        for waiter in self:
            waiter.event.set()

    def withdraw(self, me: W, lock: threading.Lock) -> None:
        """``me`` gives up (or was served already): gone from the queue, the others look again."""
        with lock:
            if me in self:
                self.remove(me)
                self.wake()   # we may have been the one holding the others back
