"""An account's health: a refused key disables the account until a probe passes.

docs/providers.md §1.7: an auth error disables the account and raises an alert; no
hot loop. Any call of the account (listing, details, link, add, probe) that
the provider answers with an auth error (RD ``bad_token``, AllDebrid
``AUTH_BAD_APIKEY``, TorBox ``BAD_TOKEN``, Debrid-Link ``badToken``,
Premiumize "not logged in", ...) puts the account in the ``disabled`` state
with a reason and the time. From then on every call of its main key fails at
once, before the network (``AuthError`` with code ``account_disabled``),
except a probe: one cheap account call at most every ``PROBE_EVERY`` seconds
of the injected clock, or at once after the key was changed. A probe that
passes enables the account again; listeners hear ``account_error`` and
``account_ok``, and the log says each change once.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from gateway import errors
from gateway.clock import Clock

log = logging.getLogger("gateway.providers")

PROBE_EVERY = 300.0   # seconds between two probes of a disabled account
DISABLED_CODE = "account_disabled"

Listener = Callable[[str, dict[str, Any]], None]
# "premium" as a word of its own: MUST_BE_PREMIUM, "account not premium", but not "premiumize:".
_PREMIUM = re.compile(r"(?<![a-z])premium(?![a-z])")
_PROBING: contextvars.ContextVar[bool] = contextvars.ContextVar("account_probe", default=False)


class Rekeyable(Protocol):
    key: str

    def set_key(self, key: str) -> None: ...


def reason_for(exc: errors.ProviderError) -> str:
    """What the user is told: the provider names a lapsed subscription, or the key is refused."""
    text = f"{exc.code} {exc}".lower()
    lapsed = _PREMIUM.search(text) or "plan_restricted" in text
    return "premium expired" if lapsed else "key refused"


class AccountHealth:
    def __init__(self, name: str, clock: Clock, probe_every: float = PROBE_EVERY) -> None:
        self.name = name
        self._clock = clock
        self.probe_every = probe_every
        self._lock = threading.Lock()
        self._disabled = False
        self.reason = ""
        self.detail = ""          # the provider's own words (code and message)
        self.since = 0.0          # wall time of the last change
        self._next_probe = 0.0    # monotonic
        self.probes = 0
        self._listeners: list[Listener] = []
        self._wakers: list[Callable[[], None]] = []
        self._clients: list[Rekeyable] = []

    # ------------------------------------------------------------ wiring

    def subscribe(self, listener: Listener) -> None:
        """``listener(event, payload)`` on each change: ``account_error`` / ``account_ok``."""
        self._listeners.append(listener)

    def on_probe_due(self, wake: Callable[[], None]) -> None:
        """``wake()`` when a probe should run now (the key changed): the account's sync worker."""
        self._wakers.append(wake)

    def attach(self, client: Rekeyable) -> None:
        """An HTTP client of the main key: ``rekey`` swaps its key."""
        self._clients.append(client)

    @property
    def key(self) -> str:
        """The main key in use ("" before a client is attached)."""
        return self._clients[0].key if self._clients else ""

    # ------------------------------------------------------------- state

    @property
    def disabled(self) -> bool:
        return self._disabled

    def guard(self) -> None:
        """Before each call of the main key: a disabled account is not called (but probed)."""
        if self._disabled and not _PROBING.get():
            raise errors.AuthError(f"{self.name}: account disabled ({self.reason}); "
                                   "it is probed every few minutes and after a key change",
                                   code=DISABLED_CODE, status=0)

    def refused(self, exc: errors.AuthError) -> None:
        """The provider refused a call with an auth error: disable (once)."""
        if exc.code == DISABLED_CODE:
            return
        with self._lock:
            if self._disabled:
                return
            self._disabled = True
            self.reason = reason_for(exc)
            self.detail = f"{exc.code}: {exc}" if exc.code else str(exc)
            self.since = self._clock.now()
            self._next_probe = self._clock.monotonic() + self.probe_every
        log.warning("%s: account disabled: %s (%s); no calls but a probe every %.0fs",
                    self.name, self.reason, self.detail, self.probe_every)
        self._emit("account_error")

    def _enable(self) -> None:
        with self._lock:
            if not self._disabled:
                return
            self._disabled = False
            reason, self.reason, self.detail = self.reason, "", ""
            self.since = self._clock.now()
        log.warning("%s: account enabled again (was: %s)", self.name, reason)
        self._emit("account_ok")

    def _emit(self, event: str) -> None:
        payload = self.status()
        for listener in list(self._listeners):
            try:
                listener(event, payload)
            except Exception:   # a broken listener must not stop the provider call
                log.exception("%s: %s listener failed", self.name, event)

    # ------------------------------------------------------------ probes

    def probe_due(self) -> bool:
        return self._disabled and self._clock.monotonic() >= self._next_probe

    def seconds_to_probe(self) -> float:
        return max(0.0, self._next_probe - self._clock.monotonic())

    def probe(self, call: Callable[[], object]) -> bool:
        """Run ``call`` (a cheap account call) if a probe is due; True when the account is enabled."""
        if not self._disabled:
            return True
        with self._lock:
            if self._clock.monotonic() < self._next_probe:
                return False
            self._next_probe = self._clock.monotonic() + self.probe_every
            self.probes += 1
        try:
            with probing():
                call()
        except errors.ProviderError as exc:
            log.debug("%s: probe failed: %s", self.name, exc)
            return False
        self._enable()
        return True

    def rekey(self, key: str) -> None:
        """The key was changed in the settings: use it from now on and probe at once."""
        for client in self._clients:
            client.set_key(key)
        with self._lock:
            self._next_probe = self._clock.monotonic()
        log.info("%s: API key changed%s", self.name, "; probing now" if self._disabled else "")
        for wake in list(self._wakers):
            wake()

    def status(self) -> dict[str, Any]:
        """For /health, /api/stats, /metrics and the notifications."""
        return {"account": self.name, "state": "disabled" if self._disabled else "ok", "reason": self.reason,
                "detail": self.detail, "since": self.since, "probes": self.probes,
                "next_probe_in": round(self.seconds_to_probe(), 1) if self._disabled else 0.0}


@contextlib.contextmanager
def probing() -> Iterator[None]:
    """Calls made inside this block pass a disabled account's guard: they are its probe."""
    token = _PROBING.set(True)
    try:
        yield
    finally:
        _PROBING.reset(token)
