"""Plain data of the emulator world: constants, error types and record dataclasses.

Holds no behaviour beyond small per-record helpers, so ``world.py``,
``rd_state.py`` and the HTTP front ends (``realdebrid.py``, ``cdn.py``,
``server.py``) can share these types without importing each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RD = "rd"
AD = "ad"
TB = "tb"
DL = "dl"
PM = "pm"
PROVIDER_KEYS = (RD, AD, TB, DL, PM)
RD_HOST = "real-debrid.com"

ERROR_FLAGS = ("magnet_error", "virus", "error", "dead")
KNOWN_FLAGS = frozenset(ERROR_FLAGS) | {"infringing", "infringing_unrestrict"}
ACTIVE_STATUSES = frozenset(
    {"magnet_conversion", "waiting_files_selection", "queued", "downloading",
     "compressing", "uploading"}
)
# Statuses that occupy a download slot (activeCount.nb).
SLOT_STATUSES = frozenset({"queued", "downloading", "compressing", "uploading"})

RD_ERROR_NAMES = {
    -1: "internal_error", 1: "parameter_missing", 2: "parameter_bad_value",
    3: "unknown_method", 4: "method_not_allowed", 5: "slow_down",
    6: "ressource_unreachable", 7: "unknown_ressource", 8: "bad_token",
    9: "permission_denied", 14: "account_locked", 19: "hoster_unavailable",
    21: "too_many_active_downloads", 23: "traffic_exhausted", 24: "unavailable_file",
    25: "service_unavailable", 30: "torrent_file_invalid", 31: "action_already_done",
    34: "too_many_requests", 35: "infringing_file", 36: "fair_usage_limit",
    37: "disabled_endpoint",
}

# HTTP status RD pairs with each error code; lets a fault rule name only the code.
_RD_ERROR_STATUS = {8: 401, 9: 403, 14: 403, 37: 403, 7: 404, 34: 429, 35: 451,
                    19: 503, 23: 503, 24: 503, 25: 503, 36: 503, 21: 509, -1: 500}


class RdError(Exception):
    """An RD API error: HTTP status plus ``{"error", "error_code"}``."""

    def __init__(self, status: int, code: int, error: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.code = code
        self.error = error or RD_ERROR_NAMES.get(code, "unknown_error")
        self.headers = headers or {}
        super().__init__(f"{status} {self.error} ({code})")

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_code": self.code}


class CdnError(Exception):
    """A CDN download failure: HTTP status plus the ``X-Error`` reason."""

    def __init__(self, status: int, x_error: str) -> None:
        self.status = status
        self.x_error = x_error
        super().__init__(f"{status} {x_error}")


@dataclass(slots=True)
class CatalogFile:
    path: str  # relative, no leading "/" (RD adds it)
    size: int
    seed: str
    source_path: str | None = None


@dataclass(slots=True)
class CatalogEntry:
    infohash: str
    name: str
    files: list[CatalogFile]
    flags: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Account:
    token: str
    user_id: int
    premium_until: float
    provider: str = RD
    slots_limit: int = 5
    traffic_limit_bytes_per_day: int | None = None
    traffic_used_today: int = 0
    traffic_day: str = ""
    revoked: bool = False
    history: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class RdFile:
    id: int
    path: str  # starts with "/"
    bytes: int
    seed: str
    source_path: str | None
    selected: int = 0
    purged: bool = False

    def matches(self, which: int | str | None) -> bool:
        """A fault's or purge's file selector: None (every file), the file id, or its path."""
        if which is None:
            return True
        if isinstance(which, int) or str(which).isdigit():
            return self.id == int(which)
        return self.path.lstrip("/") == str(which).lstrip("/")


@dataclass(slots=True)
class RdTorrent:
    id: str
    seq: int
    hash: str
    token: str
    filename: str
    files: list[RdFile]
    added: float
    added_iso: str
    conv_until: float
    error_status: str | None = None
    status: str = "magnet_conversion"
    selected_at: float | None = None
    dl_start: float | None = None
    ended: float | None = None
    progress: float = 0.0
    speed: int | None = None
    link_ids: list[str] = field(default_factory=list)
    dead_at: float | None = None
    final: bool = False

    def selected_bytes(self) -> int:
        return sum(f.bytes for f in self.files if f.selected)

    def original_bytes(self) -> int:
        return sum(f.bytes for f in self.files)


@dataclass(slots=True)
class RdDownload:
    id: str
    token: str
    link: str
    link_id: str
    torrent_id: str
    hash: str
    file: RdFile
    filename: str
    cdn_token: str
    generated: float
    expires_at: float
    forced_expired: bool = False
    deleted: bool = False


@dataclass(slots=True)
class CdnLink:
    """A CDN URL minted by a provider other than RD (``World.mint_link``).

    ``file`` is the item's own file record, so a purge reaches every link to
    it. ``open_until`` models TorBox's open window: a link first fetched
    before it keeps working afterwards; one never fetched by then is refused.
    ``ready`` (Debrid-Link) says whether the bytes exist yet.
    """

    cdn_token: str
    provider: str
    token: str                   # the account whose traffic it spends
    file: RdFile
    filename: str
    created: float
    expires_at: float | None = None
    open_until: float | None = None
    started: bool = False
    forced_expired: bool = False
    ready: Callable[[], bool] | None = None
    owner_id: str = ""           # the provider item it belongs to (for expire/purge by id)


@dataclass
class FaultRule:
    path_regex: str
    provider: str | None = None
    method: str | None = None
    token: str | None = None
    times: int | None = None
    probability: float | None = None
    status: int | None = None
    body: Any = None
    provider_error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_ms: int = 0
    drop_connection_after_bytes: int | None = None
    # Hold the request until ``World.release_holds()`` (``POST /__emu/release``), then serve it:
    # a caller killed meanwhile never gets the answer, but what the call creates appears.
    hold: bool = False
    hits: int = 0

    def __post_init__(self) -> None:
        self._rx = re.compile(self.path_regex)
        code = (self.provider_error or {}).get("code", -1)
        if self.provider_error is not None and self.status is None and isinstance(code, int) \
                and self.provider in (None, RD):
            # An RD error code without an explicit status gets RD's usual one; the
            # other providers' fronts choose the status of their own error codes.
            self.status = _RD_ERROR_STATUS.get(code, 400)

    def matches(self, provider: str | None, method: str, path: str, token: str | None) -> bool:
        if self.provider and self.provider != provider:
            return False
        if self.method and self.method.upper() != method:
            return False
        if self.token and self.token != token:
            return False
        if self.times is not None and self.times <= 0:
            return False
        return self._rx.search(path) is not None

    def describe(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        return out

