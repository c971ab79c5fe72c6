"""Sliding-window rate limiting on the emulator's virtual clock, and a checker for logs.

Real-Debrid documents its API budget as "250 requests per minute per token"
and says refused requests count against it too.  ``SlidingWindow`` enforces
exactly that: a call at time ``now`` is refused whenever ``count`` calls
(accepted or refused) already fall in the half-open window
``(now - period, now]``.  Unlike a token bucket that starts full, it never
lets a burst of more than ``count`` calls through in any ``period``.

``busiest_window`` is the matching checker: given the timestamps of a
request log it returns the most calls that fell in any window of length
``period``, so a test can assert a client stayed within a provider's budget.

Neither is thread-safe on its own; ``World`` calls ``take`` under its lock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


def _check_period(period: float) -> float:
    if not period > 0:
        raise ValueError(f"period must be > 0, got {period!r}")
    return float(period)


class SlidingWindow:
    """At most ``count`` calls in any ``period`` seconds; refused calls count too.

    Only the newest ``count`` stamps are kept: a call is refused as soon as
    ``count`` stamps are inside the window, so older ones can never change an
    answer.  Memory is therefore bounded by ``count`` however hard a client
    hammers.
    """

    def __init__(self, count: int, period: float) -> None:
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count!r}")
        self.count = int(count)
        self.period = _check_period(period)
        self._stamps: deque[float] = deque(maxlen=self.count)

    def __len__(self) -> int:
        return len(self._stamps)

    def take(self, now: float) -> float | None:
        """Record a call at ``now``: None when it may proceed, else the Retry-After in seconds."""
        if self._stamps and now < self._stamps[-1]:
            # The virtual clock can be set backwards; treat that as no time passing
            # so the stamps stay sorted and nothing already counted is forgotten.
            now = self._stamps[-1]
        self._expire(now)
        full = len(self._stamps) >= self.count
        self._stamps.append(now)  # maxlen drops the oldest stamp, which no longer matters
        if not full:
            return None
        # The window now holds ``count`` stamps (this refusal included); a call
        # passes once the oldest of them has left it.
        return self._stamps[0] + self.period - now

    def _expire(self, now: float) -> None:
        # Half-open window: a stamp exactly ``period`` old is already out.  Same
        # arithmetic as ``busiest_window`` so float rounding cannot make them disagree.
        while self._stamps and now - self._stamps[0] >= self.period:
            self._stamps.popleft()


def busiest_window(times: Iterable[float], period: float) -> int:
    """The most timestamps that fit in any half-open window ``[a, a + period)``."""
    period = _check_period(period)
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= period:
            start += 1
        best = max(best, end - start + 1)
    return best
