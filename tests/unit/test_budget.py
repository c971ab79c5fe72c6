"""The per-account request budget: sliding window, lanes, reserve, 429 pause, sub-limits, journal.

Time is a ``FakeClock``; waiters look again at least every 50 ms of real time,
and ``settle`` tells when every waiter has seen the clock the test just set.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Sequence

import pytest

from emulators.ratelimit import busiest_window
from gateway.providers.budget import Budget, Lane, Limit, MetaJournal, current_lane, lane
from tests.support import FakeClock, WatchedClock, settle, wait_until


class Caller(threading.Thread):
    """One call through the budget in its own thread; ``granted`` is the clock time its slot came."""

    def __init__(self, budget: Budget, clock: FakeClock, *, in_lane: Lane | None = None, scope: str = "",
                 hold: threading.Event | None = None, order: list[str] | None = None, label: str = "") -> None:
        super().__init__(daemon=True)
        self.budget, self.clock, self.in_lane, self.scope = budget, clock, in_lane, scope
        self.hold, self.order, self.label = hold, order, label
        self.granted: float | None = None
        self.start()

    def run(self) -> None:
        with contextlib.ExitStack() as stack:
            if self.in_lane is not None:
                stack.enter_context(lane(self.in_lane))
            stack.enter_context(self.budget.call(scope=self.scope))
            self.granted = self.clock.monotonic()
            if self.order is not None:
                self.order.append(self.label)
            if self.hold is not None:
                self.hold.wait(10)


class ListJournal:
    def __init__(self, stamps: Sequence[float] = ()) -> None:
        self.stamps = list(stamps)
        self.saves: list[list[float]] = []

    def load(self) -> list[float]:
        return list(self.stamps)

    def save(self, stamps: list[float]) -> None:
        self.saves.append(list(stamps))


def calls(budget: Budget, clock: FakeClock, n: int, grants: list[float]) -> Callable[[], None]:
    def run() -> None:
        for _ in range(n):
            with budget.call():
                grants.append(clock.monotonic())
    return run


def test_no_window_of_period_ever_holds_more_than_count_even_at_start() -> None:
    clock = FakeClock()
    budget = Budget("rd", Limit(10, 5.0), clock)
    grants: list[float] = []
    threads = [threading.Thread(target=calls(budget, clock, 6, grants), daemon=True) for _ in range(5)]
    for thread in threads:
        thread.start()

    def blocked() -> bool:   # every live thread waits on a full window (or all are done)
        alive = sum(t.is_alive() for t in threads)
        return alive == 0 or (budget.waiting == alive and budget.stats()["used"] >= 10)

    while any(t.is_alive() for t in threads):
        wait_until(blocked, what="the callers to block on a full window")
        clock.advance(0.25)
    assert len(grants) == 30
    assert busiest_window(grants, 5.0) == 10          # a token bucket would let 2x through in its first period
    assert max(grants) - min(grants) >= 10.0   # 3x count needs two whole periods after the first grant


def test_a_long_call_occupies_the_window_until_it_completes() -> None:
    clock = WatchedClock()
    budget = Budget("rd", Limit(1, 10.0), clock)
    t0 = clock.monotonic()
    release = threading.Event()
    long_call = Caller(budget, clock, hold=release)
    wait_until(lambda: budget.in_flight == 1)
    second = Caller(budget, clock)
    wait_until(lambda: budget.waiting == 1)
    clock.advance(30.0)               # far past the period, but the first call has not finished
    settle(clock, [second])
    assert second.granted is None
    release.set()
    long_call.join(5)                 # it completes at t0 + 30 and counts until t0 + 40
    clock.advance(9.9)
    settle(clock, [second])
    assert second.granted is None
    clock.advance(0.2)
    wait_until(lambda: second.granted is not None)
    assert second.granted == pytest.approx(t0 + 40.1)


def test_interactive_goes_first_then_imports_then_background_in_arrival_order() -> None:
    clock = FakeClock()
    budget = Budget("rd", Limit(1, 10.0), clock)
    with budget.call():
        pass                          # the window is full
    order: list[str] = []
    for label, which in [("bg1", Lane.BACKGROUND), ("bg2", Lane.BACKGROUND), ("imports", Lane.IMPORTS),
                         ("reader", None)]:   # no lane set: someone is waiting on it
        queued = budget.waiting
        Caller(budget, clock, in_lane=which, order=order, label=label)
        wait_until(lambda q=queued: budget.waiting == q + 1)
    assert budget.stats()["waiting"] == {"interactive": 1, "imports": 1, "background": 2}
    for served in range(1, 5):
        clock.advance(10.0)           # exactly one slot frees
        wait_until(lambda n=served: len(order) == n)
    assert order == ["reader", "imports", "bg1", "bg2"]


def test_background_leaves_the_reserve_to_interactive() -> None:
    clock = WatchedClock()
    budget = Budget("rd", Limit(10, 60.0), clock)
    held = threading.Event()
    background = [Caller(budget, clock, in_lane=Lane.BACKGROUND, hold=held) for _ in range(10)]
    wait_until(lambda: budget.in_flight == 8 and budget.waiting == 2)
    settle(clock, [c for c in background if c.granted is None])
    assert budget.in_flight == 8      # 80% of the window, however long they wait
    for _ in range(2):                # the rest goes to someone waiting, at once
        with budget.call(lane=Lane.INTERACTIVE):
            pass
    assert budget.stats()["used"] == 10 and budget.waiting == 2
    held.set()


def test_pause_stops_every_lane_of_that_account_only() -> None:
    clock = WatchedClock()
    budget, other = Budget("a", Limit(100, 60.0), clock), Budget("b", Limit(100, 60.0), clock)
    budget.pause(10.0)
    budget.pause(1.0)                 # a shorter pause never cuts a longer one short
    callers = [Caller(budget, clock, in_lane=which) for which in Lane]
    wait_until(lambda: budget.waiting == 3)
    unaffected = Caller(other, clock)
    wait_until(lambda: unaffected.granted is not None, what="the other account's call")
    clock.advance(9.9)
    settle(clock, callers)
    assert [c.granted for c in callers] == [None, None, None]
    assert budget.stats()["paused_for"] == pytest.approx(0.1)
    clock.advance(0.2)
    wait_until(lambda: all(c.granted is not None for c in callers))
    assert budget.stats()["rate_limited"] == 2 and other.stats()["rate_limited"] == 0


def test_backoff_doubles_up_to_a_minute_and_resets_after_a_success() -> None:
    clock = FakeClock()
    budget = Budget("rd", Limit(10, 60.0), clock)
    seen = []
    for _ in range(8):
        seen.append(budget.backoff_pause())
        clock.advance(seen[-1])
    assert seen == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    budget.note_success()
    assert budget.backoff_pause() == 1.0
    clock.advance(0.25)
    # Another 429 from a call sent before that pause began: the same refusal, no doubling.
    assert budget.backoff_pause() == pytest.approx(0.75)
    clock.advance(0.75)
    assert budget.backoff_pause() == 2.0


def test_a_scope_has_its_own_window_inside_the_main_one() -> None:
    clock = WatchedClock()
    budget = Budget("tb", Limit(5, 60.0), clock, sublimits={"create": Limit(2, 3600.0)})
    for _ in range(2):
        with budget.call(scope="create"):
            pass
    create = Caller(budget, clock, scope="create")
    wait_until(lambda: budget.waiting == 1)
    plain = Caller(budget, clock)     # not held up by a waiter only its own scope holds
    wait_until(lambda: plain.granted is not None)
    clock.advance(60.0)               # the main window is empty again, the hour is not over
    settle(clock, [create])
    assert create.granted is None
    clock.advance(3540.0)
    wait_until(lambda: create.granted is not None)

    small = Budget("tb2", Limit(2, 60.0), clock, sublimits={"create": Limit(10, 3600.0)})
    for _ in range(2):
        with small.call():
            pass
    scoped = Caller(small, clock, scope="create")   # its scope has room, the account does not
    wait_until(lambda: small.waiting == 1)
    settle(clock, [scoped])
    assert scoped.granted is None
    clock.advance(60.0)
    wait_until(lambda: scoped.granted is not None)


def test_journal_counts_the_previous_process_calls() -> None:
    clock = WatchedClock()
    wall, t0 = clock.now(), clock.monotonic()
    journal = ListJournal([wall - 100.0, wall - 10.0, wall - 10.0])   # the first is out of the window
    budget = Budget("rd", Limit(3, 60.0), clock, journal=journal)
    assert budget.stats()["used"] == 2
    with budget.call():
        pass
    caller = Caller(budget, clock)
    wait_until(lambda: budget.waiting == 1)
    clock.advance(49.9)               # the journal's calls leave the window 50 s after the start
    settle(clock, [caller])
    assert caller.granted is None
    clock.advance(0.2)
    wait_until(lambda: caller.granted is not None)
    assert caller.granted == pytest.approx(t0 + 50.1)
    wait_until(lambda: len(journal.saves) == 2)
    assert journal.saves[0] == pytest.approx([wall - 10.0, wall - 10.0, wall])
    assert journal.saves[1] == pytest.approx([wall, wall + 50.1])


def test_journal_is_written_at_most_once_a_second_and_flushed_at_close() -> None:
    clock = FakeClock()
    journal = ListJournal()
    budget = Budget("rd", Limit(100, 60.0), clock, journal=journal)
    for _ in range(3):
        with budget.call():
            pass
    assert len(journal.saves) == 1
    clock.advance(1.0)
    with budget.call():
        pass
    assert len(journal.saves) == 2 and len(journal.saves[1]) == 4
    with budget.call():
        pass
    budget.flush()
    assert len(journal.saves) == 3 and len(journal.saves[2]) == 5


def test_meta_journal_round_trips_and_survives_a_damaged_value() -> None:
    meta: dict[str, str] = {}
    journal = MetaJournal(lambda key: meta.get(key, ""), meta.__setitem__, "budget:rd")
    assert journal.load() == []
    journal.save([1_700_000_000.1234, 1_700_000_001.5])
    assert json.loads(meta["budget:rd"]) == [1_700_000_000.123, 1_700_000_001.5]
    assert journal.load() == [1_700_000_000.123, 1_700_000_001.5]
    for damaged in ("{", "5", '{"a": 1}'):
        meta["budget:rd"] = damaged
        assert journal.load() == []
    # Across a restart: the new budget starts with the old one's calls counted.
    clock = FakeClock()
    first = Budget("rd", Limit(3, 60.0), clock, journal=journal)
    for _ in range(3):
        with first.call():
            pass
    first.flush()
    assert Budget("rd", Limit(3, 60.0), clock, journal=journal).stats()["used"] == 3


def test_unlimited_never_waits_but_counts() -> None:
    clock = FakeClock()
    journal = ListJournal()
    budget = Budget("rd", None, clock, journal=journal)
    for _ in range(1000):
        with budget.call(lane=Lane.BACKGROUND):
            pass
    stats = budget.stats()
    assert stats["limit"] == "off" and stats["used"] == 1000 and stats["calls"] == 1000
    assert journal.saves == []        # nothing to protect across a restart
    budget.pause(5.0)                 # a 429 still pauses it
    caller = Caller(budget, clock)
    wait_until(lambda: budget.waiting == 1)
    clock.advance(5.1)
    wait_until(lambda: caller.granted is not None)


def test_stats_and_lane_context() -> None:
    clock = FakeClock()
    budget = Budget("rd", Limit(250, 60.0), clock)
    assert current_lane() == Lane.INTERACTIVE
    with lane(Lane.IMPORTS):
        assert current_lane() == Lane.IMPORTS
        with budget.call():
            assert budget.stats() == {"limit": "250/60s", "used": 1, "in_flight": 1,
                                      "waiting": {"interactive": 0, "imports": 0, "background": 0},
                                      "paused_for": 0.0, "calls": 1, "rate_limited": 0}
    assert current_lane() == Lane.INTERACTIVE
    with pytest.raises(RuntimeError), budget.call():
        raise RuntimeError("a failed call still completes")
    assert budget.in_flight == 0 and budget.stats()["used"] == 2
