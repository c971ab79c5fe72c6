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

import bottle

from .clock import parse_time
from .model import CatalogEntry

if TYPE_CHECKING:
    from .world import World

# (world, HTTP status or 0 for "the provider's usual one", provider error code or None, message)
#   → (HTTP status, JSON body)
ErrorShape = Callable[["World", int, Any, str], tuple[int, Any]]


def no_scope(method: str, path: str) -> str:
    return ""


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


class ProviderState:
    """One provider's records inside the ``World`` (the RD one is ``RdState``).

    Subclasses keep their items per account token, build files as
    ``RdFile`` records (shared with the CDN links minted for them) and take
    ``world.lock`` around every change. ``KNOBS`` are merged into the world's
    knobs, so ``/__emu/knobs`` reaches them.
    """

    key = ""
    KNOBS: dict[str, Any] = {}

    def __init__(self, world: World) -> None:
        self.world = world

    def seed_library(self, token: str, entries: list[dict[str, Any]]) -> list[str]:
        """Finished items at once (``/__emu/library``): entries as for the catalog, their
        hashes cached at this provider; the ids of the new items."""
        w = self.world
        ids = []
        with w.lock:
            if token not in w.accounts:
                w.add_account(token, provider=self.key)
            for e in entries:
                h = str(e["hash"]).lower()
                entry = w.catalog.get(h)
                if entry is None or e.get("files"):
                    entry = w.add_catalog(h, e["name"], e.get("files", []), e.get("flags", ()))
                w.cached.setdefault(self.key, set()).add(h)
                added = parse_time(e["added"]) if e.get("added") is not None else w.now()
                ids.append(self.seed_one(token, entry, added))
        return ids

    def seed_one(self, token: str, entry: CatalogEntry, added: float) -> str:
        """One finished item of ``entry`` for ``token``, added at ``added``; its id."""
        raise NotImplementedError

    def purge(self, infohash: str | None, item_id: str | None, file: int | str | None) -> int:
        """The files vanish from storage; how many were marked."""
        raise NotImplementedError

    def count(self, token: str) -> int:
        """How many items the account holds (for ``/__emu/state``)."""
        return 0
