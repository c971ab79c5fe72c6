"""What a provider's state sees of the ``World``, and the base class of those states.

The states (``ad_state.py``, ``rd_state.py``, ...) are built and held by ``World``, so they
must not import ``world.py`` back (not even for annotations: that was an import cycle).
They see the world through ``WorldView``, the part of ``World`` they use; mypy checks that
``World`` satisfies it where ``World`` builds them.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from .clock import EmuClock, parse_time
from .model import Account, CatalogEntry, CdnLink, RdFile


class WorldView(Protocol):
    """The members of ``World`` that provider states use (read-only here)."""

    @property
    def lock(self) -> AbstractContextManager[Any]: ...
    @property
    def clock(self) -> EmuClock: ...
    @property
    def origin(self) -> str: ...
    @property
    def knobs(self) -> dict[str, Any]: ...
    @property
    def catalog(self) -> dict[str, CatalogEntry]: ...
    @property
    def accounts(self) -> dict[str, Account]: ...
    @property
    def cached(self) -> dict[str, set[str]]: ...

    def now(self) -> float: ...
    def new_id(self) -> str: ...
    def next_torrent_id(self) -> tuple[str, int]: ...
    def rd_link_url(self, link_id: str) -> str: ...
    def add_catalog(self, infohash: str, name: str, files: Iterable[Any], flags: Iterable[str] = (),
                    cached: bool = False, provider: str = ...) -> CatalogEntry: ...
    def learn_torrent(self, infohash: str, name: str | None, files: list[tuple[str, int]]) -> None: ...
    def filtered(self, entry: CatalogEntry | None, provider: str) -> bool: ...
    def is_cached(self, infohash: str, provider: str = ...) -> bool: ...
    def add_account(self, token: str, *, premium_days: float | None = None, premium_until: float | None = None,
                    slots_limit: int | None = None, traffic_limit_bytes_per_day: int | None = None,
                    provider: str = ...) -> Account: ...
    def traffic_exhausted(self, acc: Account) -> bool: ...
    def mint_link(self, provider: str, token: str, file: RdFile, filename: str, *, ttl: float | None = None,
                  open_ttl: float | None = None, ready: Any = None, owner_id: str = "") -> CdnLink: ...
    def link_expired(self, link: CdnLink) -> bool: ...
    def link_url(self, link: CdnLink) -> str: ...


class ProviderState:
    """One provider's records inside the ``World`` (the RD one is ``RdState``).

    Subclasses keep their items per account token, build files as
    ``RdFile`` records (shared with the CDN links minted for them) and take
    ``world.lock`` around every change. ``KNOBS`` are merged into the world's
    knobs, so ``/__emu/knobs`` reaches them.
    """

    key = ""
    KNOBS: dict[str, Any] = {}

    def __init__(self, world: WorldView) -> None:
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
