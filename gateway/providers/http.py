"""All provider HTTP: one session per provider account with timeouts, the
account's request budget (``budget.py``), one retry policy and redacted logging.

The retry decision is made *after* the provider module parsed the error body
into ``gateway.errors`` (docs/providers.md §1.2): a 503 that carries RD's
``hoster_unavailable`` is ``FileGone`` and is never retried blindly; a bare
503 or a 429 is. A 429 pauses the whole account in its budget, so its retry,
like every other caller's next call, waits there; other retries back off on
the injected clock.
"""

from __future__ import annotations

import email.utils
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import requests
from requests.adapters import HTTPAdapter

from gateway.clock import Clock
from gateway.errors import AuthError, ProviderError, RateLimited, Unavailable
from gateway.providers.budget import Budget
from gateway.providers.health import AccountHealth

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (10.0, 60.0)   # (connect, read) seconds
MAX_RETRIES = 4
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
_SECRET_QUERY = re.compile(r"((?:auth_token|token|apikey|api_key)=)[^&]+", re.IGNORECASE)

ErrorParser = Callable[[requests.Response], ProviderError]
# Reads a < 400 answer's body into what the caller wants; raises what an envelope reports.
T = TypeVar("T")
Reader = Callable[[requests.Response, str], T]


def _keep(response: requests.Response, path: str) -> requests.Response:
    return response


@dataclass(frozen=True)
class _Read(Generic[T]):
    value: T


def redact(url: str) -> str:
    """A URL fit for logs: query secrets masked, CDN paths shortened."""
    return _SECRET_QUERY.sub(r"\1****", url)


def make_session(user_agent: str = "", proxy: str = "", pool: int = 16) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool, pool_maxsize=pool, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent or "decypharr/0.1"
    if proxy:
        session.proxies = {"http": proxy, "https": proxy}
    return session


def retry_after_seconds(response: requests.Response) -> float | None:
    """Retry-After in seconds, from either of its two forms."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    date = email.utils.parsedate_to_datetime(response.headers.get("Date", value))
    return max(0.0, (when - date).total_seconds())


class ProviderHTTP:
    """One provider account's HTTP client: base URL, auth header, request budget, retries."""

    def __init__(self, base_url: str, headers: dict[str, str], clock: Clock, *,
                 budget: Budget, session: requests.Session,
                 max_retries: int = MAX_RETRIES, timeout: tuple[float, float] = DEFAULT_TIMEOUT,
                 key: str = "", health: AccountHealth | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.key = key
        # The account's health, for the main key's clients only: a refused call disables the
        # account, and a disabled account is not called (an extra download key rests instead).
        self.health = health
        if health is not None:
            health.attach(self)
        self._headers = headers
        self._clock = clock
        self._session = session
        self._max_retries = max_retries
        self._timeout = timeout

    def set_key(self, key: str) -> None:
        """A new key for the same account (changed in the settings)."""
        self._headers = {**self._headers, "Authorization": f"Bearer {key}"}
        self.key = key

    def close(self) -> None:
        self.budget.flush()
        self._session.close()

    def request(self, method: str, path: str, parse_error: ErrorParser, *, scope: str = "",
                **kwargs: Any) -> requests.Response:
        """Send with retries; returns a < 400 response or raises a ``ProviderError``.

        Every attempt takes a slot of the budget (``scope`` names a sub-limit,
        such as creating torrents).
        """
        return self.request_read(method, path, parse_error, _keep, scope=scope, **kwargs)

    def request_read(self, method: str, path: str, parse_error: ErrorParser, read: Reader[T], *,
                     scope: str = "", **kwargs: Any) -> T:
        """``request``, then ``read(response, path)``: the body is read once, and an error a
        provider reports inside an HTTP 200 (AllDebrid, Premiumize) gets its HTTP twin's
        pause or retry."""
        try:
            return self._request_read(method, path, parse_error, read, scope, kwargs)
        except AuthError as exc:
            if self.health is not None:
                self.health.refused(exc)
            raise

    def _request_read(self, method: str, path: str, parse_error: ErrorParser, read: Reader[T],
                      scope: str, kwargs: dict[str, Any]) -> T:
        url = f"{self.base_url}/{path.lstrip('/')}"
        attempt = 0
        while True:
            if self.health is not None:
                self.health.guard()
            with self.budget.call(scope):
                outcome = self._attempt(method, url, parse_error, kwargs)
            if isinstance(outcome, requests.Response):
                read_outcome = self._read(read, outcome, path)
                if not isinstance(read_outcome, ProviderError):
                    return read_outcome.value
                outcome = read_outcome
            error = outcome
            attempt += 1
            # A 429 pauses the account even when this call gives up: the others must hold off too.
            delay = self._pause(error) if isinstance(error, RateLimited) else _backoff(attempt)
            if attempt > self._max_retries or not _retryable(error, method):
                raise error
            log.info("%s %s: %s; retry %d in %.1fs", method, redact(url), error, attempt, delay)
            if not isinstance(error, RateLimited):
                self._clock.sleep(delay)   # a 429's retry waits in the budget instead

    def _read(self, read: Reader[T], response: requests.Response, path: str) -> _Read[T] | ProviderError:
        """What ``read`` made of the body, or the error to retry: only what waiting can cure
        goes back to the loop (a rate limit, an outage, an unreadable body); an unknown shape
        will not change by asking again, and any other verdict is final."""
        try:
            value = read(response, path)
        except RateLimited as exc:
            return exc
        except Unavailable as exc:
            if exc.code != "bad_shape":
                return exc
            self.budget.note_success()
            raise
        except ProviderError:
            self.budget.note_success()
            raise
        self.budget.note_success()
        return _Read(value)

    def _pause(self, error: RateLimited) -> float:
        if error.retry_after is None:
            return self.budget.backoff_pause()
        self.budget.pause(error.retry_after)
        return error.retry_after

    def _attempt(self, method: str, url: str, parse_error: ErrorParser,
                 kwargs: dict[str, Any]) -> requests.Response | ProviderError:
        try:
            extra = kwargs.get("headers") or {}
            rest = {k: v for k, v in kwargs.items() if k != "headers"}
            response = self._session.request(method, url, headers={**self._headers, **extra},
                                             timeout=self._timeout, **rest)
        except requests.RequestException as exc:
            log.debug("%s %s: %s", method, redact(url), exc)
            # A refused connection never reached the provider, so even a POST may repeat it.
            refused = isinstance(exc, requests.ConnectTimeout) or "NewConnectionError" in repr(exc)
            return Unavailable(f"cannot reach provider: {type(exc).__name__}",
                               code="connect" if refused else "network")
        log.debug("%s %s -> %d", method, redact(url), response.status_code)
        if response.status_code < 400:
            return response
        return parse_error(response)


def _backoff(attempt: int) -> float:
    factor: int = 2 ** (attempt - 1)   # int ** int is typed Any (a negative power is a float)
    return min(BACKOFF_BASE * factor, BACKOFF_CAP)


def _retryable(error: ProviderError, method: str) -> bool:
    """429 always (refused, not processed); a bare 5xx or network error when safe to repeat."""
    if isinstance(error, RateLimited):
        return True
    if type(error) is Unavailable:
        return method in ("GET", "HEAD", "PUT", "DELETE") or error.code in ("connect", "")
    return False
