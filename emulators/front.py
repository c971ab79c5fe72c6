"""What the shared HTTP layer (``server.py``) needs to know about one emulated provider.

Each provider module (``realdebrid.py``, ``alldebrid.py``, ...) exports one
``Front``: where its API is mounted, how a request names its account, and how
that provider words an error, so the request log, the fault rules and the
rate limits stay in one place while every answer keeps its provider's shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import bottle

if TYPE_CHECKING:
    from .world import World

# (world, HTTP status or 0 for "the provider's usual one", provider error code or None, message)
#   → (HTTP status, JSON body)
ErrorShape = Callable[["World", int, Any, str], tuple[int, Any]]


def no_scope(method: str, path: str) -> str:
    return ""


def bearer(environ: dict[str, Any]) -> str | None:
    """The ``Authorization: Bearer`` token, or None."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


def query_value(environ: dict[str, Any], name: str) -> str | None:
    """The first ``name=`` value of the query string, or None."""
    values = parse_qs(environ.get("QUERY_STRING", "")).get(name)
    return values[0] if values else None


def bearer_or_query(environ: dict[str, Any], name: str) -> str | None:
    """A Bearer header wins (even an empty one); without one, the legacy ``name=`` query value."""
    if environ.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer ":
        return bearer(environ)
    return query_value(environ, name)


@dataclass(frozen=True)
class Front:
    key: str                                                # provider key: "rd", "ad", ...
    prefixes: tuple[str, ...]                               # API path prefixes, e.g. ("/v4", "/v4.1")
    mount: Callable[[bottle.Bottle, World], object]         # adds the provider's routes
    extract_token: Callable[[dict[str, Any]], str | None]   # the account a request names
    error: ErrorShape                                       # the provider's error envelope
    scope: Callable[[str, str], str] = no_scope             # rate-limit scope of (method, path): "create"

    def owns(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)
