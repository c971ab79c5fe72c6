"""Request budgets over real HTTP against the emulator: a 429 stops one account, not the others."""

from __future__ import annotations

import threading
from typing import Any

from emulators.server import Emulator
from gateway.config import parse_config
from gateway.providers import Provider, build_provider
from tests.support import SAMPLE, TOKEN, WatchedClock, settle, wait_until

RD = "/rest/1.0"
OTHER = "other-token"


class AccountCall(threading.Thread):
    """``provider.account()`` in its own thread; ``finished`` is the fake time it returned."""

    def __init__(self, provider: Provider, clock: WatchedClock) -> None:
        super().__init__(daemon=True)
        self.provider, self.clock = provider, clock
        self.result: Any = None
        self.finished: float | None = None
        self.start()

    def run(self) -> None:
        self.result = self.provider.account()
        self.finished = self.clock.monotonic()


def providers(emulator: Emulator, clock: WatchedClock) -> tuple[Provider, Provider]:
    raw = {"debrids": [{"name": name, "provider": "realdebrid", "api_key": token, "api_url": emulator.rd_api_url}
                       for name, token in (("a", TOKEN), ("b", OTHER))]}
    a, b = parse_config(raw, "/tmp/c").debrids   # the default budget: RD's 250/minute
    return build_provider(a, clock), build_provider(b, clock)


def test_a_429_with_retry_after_pauses_every_caller_of_that_account_only(emulator) -> None:
    emulator.world.add_account(OTHER)
    emulator.world.seed_library(OTHER, SAMPLE[:2])
    clock = WatchedClock()
    a, b = providers(emulator, clock)
    emulator.world.add_fault({"path_regex": f"^{RD}/user", "token": TOKEN, "times": 1, "status": 429,
                              "provider_error": {"code": 34}, "headers": {"Retry-After": "30"}})
    t0, mark = clock.monotonic(), emulator.world.log_mark()
    first = AccountCall(a, clock)
    wait_until(lambda: a.budget.stats()["paused_for"] > 0, what="account A to pause")
    calls_a = [first, *(AccountCall(a, clock) for _ in range(3))]
    calls_b = [AccountCall(b, clock) for _ in range(3)]
    wait_until(lambda: all(c.finished is not None for c in calls_b), what="account B's calls")
    wait_until(lambda: a.budget.waiting == 4)
    clock.advance(29.9)
    settle(clock, calls_a)
    assert [c.finished for c in calls_a] == [None] * 4
    clock.advance(0.2)
    wait_until(lambda: all(c.finished is not None for c in calls_a), what="account A's calls")
    assert all(c.result.premium for c in calls_a + calls_b)
    assert all(c.finished >= t0 + 30.0 for c in calls_a)
    log = emulator.world.log(since=mark)
    assert [e["status"] for e in log].count(429) == 1
    assert sum(e["token"] == TOKEN for e in log) == 5     # the refused call, then four after the pause
    assert (a.budget.stats()["rate_limited"], b.budget.stats()["rate_limited"]) == (1, 0)
