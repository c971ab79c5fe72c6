"""What every provider client shares: its account plumbing and small parsing helpers."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from typing import Any

import requests

from gateway import errors
from gateway.clock import Clock
from gateway.models import DownloadLink, Torrent
from gateway.providers.base import Capabilities
from gateway.providers.http import ProviderHTTP, retry_after_seconds
from gateway.providers.keys import KeyRing

log = logging.getLogger("gateway.providers")
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def json_body(response: requests.Response, provider: str, path: str) -> Any:
    """The answer's JSON, or ``Unavailable(code="bad_json")`` (a proxy's HTML page, garbage)."""
    try:
        return response.json()
    except ValueError:
        raise errors.Unavailable(f"{provider}: {path}: answer is not JSON", code="bad_json") from None


def error_fields(response: requests.Response, code_key: str, message_key: str) -> tuple[str, str]:
    """(code, message) from a >= 400 answer's JSON envelope; ("", "") when it has none."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get(code_key) or ""), str(body.get(message_key) or "")


def bad_shape(provider: str, path: str, what: str) -> errors.Unavailable:
    """The error for an answer of a shape the client does not know, logged once per endpoint:
    never an empty list, never a KeyError."""
    with _warned_lock:
        first = (provider, path) not in _warned
        _warned.add((provider, path))
    if first:
        log.warning("%s: %s: unexpected answer shape (%s)", provider, path, what)
    return errors.Unavailable(f"{provider}: {path}: unexpected answer shape ({what})", code="bad_shape")


def provider_error(cls: type[errors.ProviderError], message: str, *, code: str, status: int,
                   response: requests.Response | None = None) -> errors.ProviderError:
    """One classified error; a rate limit carries the answer's Retry-After."""
    if cls is errors.RateLimited:
        retry = retry_after_seconds(response) if response is not None else None
        return errors.RateLimited(message, retry_after=retry, code=code, status=status)
    return cls(message, code=code, status=status)


def verdict_code(code: str, status: int) -> str:
    """A provider's own code is a verdict; without one a 5xx keeps code "", which the HTTP
    layer retries, and a 4xx is named by its status."""
    return code or ("" if status >= 500 else str(status))


def parse_iso_time(value: Any) -> float:
    """Epoch seconds from an ISO-8601 time ('Z' accepted); 0.0 when absent or unreadable."""
    if not value:
        return 0.0
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class AccountClient:
    """One provider account: its main HTTP client, budget, download keys and link lifetime.

    It also answers, from ``capabilities``, the operations a service does not offer, so a
    provider module writes only what its service does: a usenet, cache-check or
    file-selection module overrides the matching method and sets the flag."""

    kind: str = ""
    capabilities: Capabilities = Capabilities()

    def __init__(self, name: str, http: ProviderHTTP, clock: Clock, link_ttl: float,
                 keys: KeyRing | None = None) -> None:
        self.name = name
        self._http = http
        self.budget = http.budget
        self.health = http.budget.health   # the account's state: a refused key disables it
        self.keys = keys or KeyRing(name, [http], clock)
        self._clock = clock
        self._link_ttl = link_ttl

    def close(self) -> None:
        for client in self.keys.clients:
            client.close()

    # -- links

    def download_link(self, url: str, size: int, key: int, *, download_id: str = "",
                      filename: str = "") -> DownloadLink:
        """A link as every provider makes it: it lives ``link_ttl`` seconds from now (the
        link cache in ``library/links.py`` keeps it exactly that long)."""
        return DownloadLink(url=url, size=size, expires_at=self._clock.monotonic() + self._link_ttl,
                            download_id=download_id, filename=filename, key=key)

    def download_keys(self) -> list[dict[str, object]]:
        """Each download key, masked, with whether it is usable now and why not."""
        return self.keys.status()

    def rest_key(self, index: int, reason: str) -> bool:
        """Rest download key ``index`` (its traffic is spent) when another key can take over;
        False when it is the only key, so the caller rests the whole account instead."""
        if len(self.keys) < 2:
            return False
        self.keys.exhaust(index, reason)
        return True

    # -- what a service does not offer: one answer each, from ``capabilities``

    def list_torrents(self) -> list[Torrent]:
        raise NotImplementedError   # every provider module lists its torrents

    def list_recent(self, limit: int) -> tuple[list[Torrent], int | None]:
        """Without ``recent_first`` paging: the whole list, newest first, cut to ``limit``."""
        items = sorted(self.list_torrents(), key=lambda t: t.added, reverse=True)
        return items[:limit], len(items)

    def select_files(self, torrent_id: str, file_ids: Sequence[int]) -> None:
        """Without ``select_files`` the service downloads every file: nothing to select."""

    def add_nzb(self, data: bytes, name: str) -> str:
        raise self._not_offered("usenet", "takes no NZBs", "no_usenet")

    def add_nzb_url(self, url: str, name: str) -> str:
        raise self._not_offered("usenet", "takes no NZBs", "no_usenet")

    def check_cached(self, infohashes: Sequence[str]) -> dict[str, bool]:
        raise self._not_offered("cache_check", "has no instant-availability check", "no_cache_check")

    def _not_offered(self, capability: str, what: str, code: str) -> errors.ProviderError:
        # A module that sets the flag must override the method: reaching here is our bug.
        assert not getattr(self.capabilities, capability), f"{self.kind} declares {capability} but lacks it"
        return errors.BadRequest(f"{self.kind} {what}", code=code)
