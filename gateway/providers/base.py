"""The provider contract: one narrow interface every debrid module implements.

A provider maps its wire JSON faithfully into ``gateway.models`` and raises
only ``gateway.errors``; it never filters (policy lives in the library) and
never leaks a dict or a ``requests`` exception. Optional abilities are
declared in ``Capabilities``, never probed with ``hasattr``; what a service does
not offer is answered once, from its capabilities, by ``common.AccountClient``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.models import Account, ActiveCount, DownloadLink, RemoteFile, Torrent
from gateway.providers.budget import Budget
from gateway.providers.health import AccountHealth


@dataclass(frozen=True)
class Capabilities:
    select_files: bool = False       # files must be chosen after metadata (RD)
    cache_check: bool = False        # a working instant-availability endpoint
    usenet: bool = False             # takes NZBs
    downloads_list: bool = False     # lists generated links (RD /downloads)
    recent_first: bool = False       # list_recent: the newest page plus the account's total, in one call


class Provider(Protocol):
    name: str                        # the configured debrid name
    kind: str                        # "realdebrid", ...
    capabilities: Capabilities
    budget: Budget                   # the account's request budget, shared by all its callers
    health: AccountHealth            # disabled after an auth error until a probe passes (health.py)

    def account(self) -> Account:
        """The user/account call: the cheapest call there is, and the probe of a disabled account."""

    def list_torrents(self) -> list[Torrent]:
        """Every torrent in the account, files possibly empty (bare list items)."""

    def list_recent(self, limit: int) -> tuple[list[Torrent], int | None]:
        """The ``limit`` newest torrents and how many the account has (None: unknown).
        Only when ``capabilities.recent_first``: it is what makes an idle refresh cheap."""

    def get_torrent(self, torrent_id: str) -> Torrent:
        """One torrent with its files. Raises NotFound."""

    def add_magnet(self, magnet: str) -> str:
        """Returns the provider's torrent id."""

    def add_torrent_file(self, data: bytes) -> str: ...

    def add_nzb(self, data: bytes, name: str) -> str:
        """Only when ``capabilities.usenet``: an NZB job, returned as an id that
        ``get_torrent``, ``delete`` and ``unrestrict`` accept like a torrent's."""

    def add_nzb_url(self, url: str, name: str) -> str:
        """Only when ``capabilities.usenet``: the provider fetches the NZB itself."""

    def select_files(self, torrent_id: str, file_ids: Sequence[int]) -> None: ...

    def delete(self, torrent_id: str) -> None: ...

    def unrestrict(self, torrent: Torrent, file: RemoteFile) -> DownloadLink:
        """A fetchable URL for one file, made with a download key (the link's ``key`` says
        which: the main key, then ``download_api_keys``). It lives until its ``expires_at``.
        Raises FileGone when storage lost it, QuotaExceeded when no key has traffic left."""

    def download_keys(self) -> list[dict[str, object]]:
        """Each download key, masked, with whether it is usable now and why not."""

    def rest_key(self, index: int, reason: str) -> bool:
        """Rest download key ``index`` (the CDN says its traffic is spent) if another key can
        take over; False when it is the only one."""

    def active_count(self) -> ActiveCount: ...

    def check_cached(self, infohashes: Sequence[str]) -> dict[str, bool]:
        """Only when ``capabilities.cache_check``."""

    def close(self) -> None: ...
