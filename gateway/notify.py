"""Notifications: a Discord webhook and/or a generic JSON callback for the gateway's events.

``send`` is called from import and repair threads through the event bus, so it
never blocks: it enqueues (a bounded queue, the oldest dropped beyond
``MAX_QUEUE``) and returns; one background thread delivers, with retries
(``ATTEMPTS`` tries, backoff 1 s then 2 s through ``clock.sleep``; a 4xx other
than 429 is final; a 429's Retry-After is honoured), a 5 s connect and a 10 s
read timeout. Target URLs only reach logs through ``safe_url`` (a Discord
webhook URL is a credential).
"""

from __future__ import annotations

import base64
import collections
import http.client
import json
import logging
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from gateway.clock import Clock
from gateway.config import NotificationsConfig
from gateway.events import EVENTS
from gateway.log import register_secret, safe_url

log = logging.getLogger(__name__)

MAX_QUEUE = 1000
ATTEMPTS = 3
BACKOFF = (1.0, 2.0)
MAX_RETRY_AFTER = 60.0
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
DRAIN_SECONDS = 3.0
USER_AGENT = "decypharr"

GREEN = 0x2ECC71
RED = 0xE74C3C
TITLES = {"download_complete": "Download complete", "download_failed": "Download failed",
          "repair_complete": "Repair complete", "repair_failed": "Repair failed",
          "account_error": "Debrid account disabled", "account_ok": "Debrid account back"}


@dataclass(frozen=True)
class Notice:
    event: str
    time: float
    payload: dict[str, Any]


class Delivery(Exception):
    """One failed attempt; ``final`` when retrying cannot help; ``wait`` from a Retry-After."""

    def __init__(self, message: str, final: bool = False, wait: float | None = None) -> None:
        super().__init__(message)
        self.final = final
        self.wait = wait


def post_json(url: str, body: dict[str, Any]) -> int:
    """POST ``body`` as JSON; the status, or ``Delivery`` for anything but a 2xx/3xx."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        raise Delivery("unreadable URL", final=True) from None
    if parts.scheme not in ("http", "https") or not host:
        raise Delivery("not an http(s) URL", final=True)
    data = json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Content-Length": str(len(data))}
    if parts.username:
        raw = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=CONNECT_TIMEOUT,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=CONNECT_TIMEOUT)
    try:
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(READ_TIMEOUT)
        conn.request("POST", target, body=data, headers=headers)
        response = conn.getresponse()
        response.read(1 << 16)
        status = response.status
        retry_after = response.getheader("Retry-After")
    except (OSError, http.client.HTTPException) as exc:
        raise Delivery(f"{type(exc).__name__}: {exc}") from None
    finally:
        conn.close()
    if status < 400:
        return status
    if status == 429:
        raise Delivery("429 rate limited", wait=_retry_after(retry_after))
    raise Delivery(f"HTTP {status}", final=status < 500)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, min(MAX_RETRY_AFTER, float(value)))
    except ValueError:
        return None   # an HTTP date: fall back to the usual backoff


def _where(url: str) -> str:
    """A target for logs: scheme and host only (a webhook URL's path is its credential)."""
    cleaned = safe_url(url)
    if cleaned == "(unreadable URL)":
        return cleaned
    parts = urlsplit(cleaned)
    return f"{parts.scheme}://{parts.netloc}/…"


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _short(value: Any, limit: int = 1024) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _size(value: Any) -> str:
    try:
        size = float(value)
    except (TypeError, ValueError):
        return str(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


def discord_body(notice: Notice) -> dict[str, Any]:
    """A Discord webhook message: one embed, green for *_complete, red for *_failed."""
    payload = notice.payload
    fields: list[dict[str, Any]] = []

    def field(name: str, value: Any, inline: bool = True) -> None:
        if value not in (None, "", [], {}):
            fields.append({"name": name, "value": _short(value), "inline": inline})

    if notice.event.startswith("download_"):
        description = str(payload.get("name") or payload.get("hash") or "")
        field("Category", payload.get("category"))
        field("Provider", payload.get("provider"))
        field("Kind", payload.get("kind"))
        if payload.get("size"):
            field("Size", _size(payload.get("size")))
        field("Hash", payload.get("hash"), inline=False)
        field("Path", payload.get("content_path"), inline=False)
        field("Error", payload.get("error"), inline=False)
    elif notice.event.startswith("account_"):
        description = str(payload.get("account") or "")
        field("Reason", payload.get("reason"))
        field("Provider said", payload.get("detail"), inline=False)
    else:
        description = f"Repair job {payload.get('id', '')}".strip()
        field("Status", payload.get("status"))
        field("Arrs", ", ".join(str(a) for a in payload.get("arrs") or ()))
        counts = payload.get("counts") or {}
        if counts:
            field("Counts", ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())), inline=False)
        broken = payload.get("broken_items") or []
        if broken:
            titles = [str(item.get("title") or item.get("file_path") or "") for item in broken[:10]]
            field(f"Broken items ({len(broken)})", "\n".join(titles), inline=False)
        field("Error", payload.get("error"), inline=False)
    embed = {"title": TITLES.get(notice.event, notice.event)[:256], "description": _short(description, 4096),
             "color": GREEN if notice.event.endswith(("_complete", "_ok"))
             else RED if notice.event.endswith(("_failed", "_error"))
             else 0x95A5A6,
             "timestamp": _iso(notice.time), "fields": fields[:25]}
    return {"username": "decypharr", "embeds": [embed]}


def callback_body(notice: Notice) -> dict[str, Any]:
    return {"event": notice.event, "time": _iso(notice.time), "data": notice.payload}


class Notifier:
    def __init__(self, config: NotificationsConfig, clock: Clock) -> None:
        self._clock = clock
        self._configure(config)
        self._wanted = False                 # start() was called: a later reconfigure may start the worker
        self._queue: collections.deque[Notice] = collections.deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._abandon = threading.Event()   # set when stop() has waited long enough
        self.dropped = 0
        self.delivered = 0
        self.failed = 0

    def _configure(self, config: NotificationsConfig) -> None:
        self._config = config
        self._events = frozenset(tuple(config.events) or EVENTS)
        targets: list[tuple[str, str]] = []
        if config.webhook_url:
            targets.append(("discord", config.webhook_url))
            register_secret(config.webhook_url)   # Discord webhook URLs carry their token in the path
            register_secret(urlsplit(config.webhook_url).path.rstrip("/").rsplit("/", 1)[-1])
        if config.callback_url:
            targets.append(("callback", config.callback_url))
        self._targets = targets   # one assignment: the worker reads a whole list, old or new

    def reconfigure(self, config: NotificationsConfig) -> None:
        """New settings from ``POST /api/config``: they apply to the next event, no restart."""
        self._configure(config)
        if self._wanted:
            self.start()

    @property
    def active(self) -> bool:
        return bool(self._config.enabled and self._targets)

    def send(self, event: str, payload: dict[str, Any]) -> None:
        """Queue ``event`` for delivery and return at once (never blocks on the network)."""
        if not self.active or event not in self._events:
            return
        notice = Notice(event, self._clock.now(), dict(payload))
        dropped: Notice | None = None
        with self._cond:
            if self._stopping:
                return
            if len(self._queue) >= MAX_QUEUE:
                dropped = self._queue.popleft()
                self.dropped += 1
            self._queue.append(notice)
            self._cond.notify()
        if dropped is not None:
            log.warning("notifications: queue full (%d): dropped the oldest (%s)", MAX_QUEUE, dropped.event)

    def start(self) -> None:
        self._wanted = True
        if self._config.enabled and not self._targets:
            log.warning("notifications: enabled, but neither webhook_url nor callback_url is set")
        if not self.active or self._thread is not None:
            return
        with self._cond:
            self._stopping = False
            self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._abandon,), name="notify", daemon=True)
        self._thread.start()
        log.info("notifications: %s for %s", ", ".join(f"{kind} {_where(url)}" for kind, url in self._targets),
                 ", ".join(sorted(self._events)))

    def stop(self) -> None:
        """Deliver what is queued for at most ``DRAIN_SECONDS``, then give up on the rest."""
        thread = self._thread
        if thread is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        thread.join(DRAIN_SECONDS)
        self._abandon.set()   # a worker still busy gives up after its current attempt (a daemon thread)
        self._thread = None
        with self._cond:
            left = len(self._queue)
            self._queue.clear()
        if left or thread.is_alive():
            log.warning("notifications: stopped with %d undelivered", left + (1 if thread.is_alive() else 0))

    # ------------------------------------------------------------------ worker

    def _run(self, abandon: threading.Event) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue or abandon.is_set():
                    return
                notice = self._queue.popleft()
            for kind, url in self._targets:
                if abandon.is_set():
                    return
                body = discord_body(notice) if kind == "discord" else callback_body(notice)
                try:
                    self._deliver(kind, url, body, notice.event, abandon)
                except Exception:   # the worker must outlive any one bad notice
                    log.exception("notifications: %s %s: unexpected error", kind, notice.event)

    def _deliver(self, kind: str, url: str, body: dict[str, Any], event: str, abandon: threading.Event) -> bool:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                post_json(url, body)
            except Delivery as exc:
                last = attempt == ATTEMPTS or exc.final or abandon.is_set()
                if last:
                    self.failed += 1
                    log.warning("notifications: %s %s to %s failed after %d attempt(s): %s",
                                kind, event, _where(url), attempt, exc)
                    return False
                pause = exc.wait if exc.wait is not None else BACKOFF[min(attempt - 1, len(BACKOFF) - 1)]
                log.info("notifications: %s %s to %s: %s; retrying in %.0f s", kind, event, _where(url),
                         exc, pause)
                self._clock.sleep(pause)
                continue
            self.delivered += 1
            log.debug("notifications: %s %s delivered to %s", kind, event, _where(url))
            return True
        return False
