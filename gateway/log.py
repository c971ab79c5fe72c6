"""Logging setup, done once by the composition root, and the redaction every handler applies.

Every handler (console, file, the in-memory buffer behind ``GET /api/logs``)
carries a ``RedactingFilter``: the record is formatted first (message, args,
exception text, stack), then registered secrets are masked and download links
cut down to scheme and host. Nothing a provider or an *arr would accept as a
credential reaches a log line.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import logging.handlers
import os
import re
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
MEMORY_LINES = 2000
MIN_SECRET = 6          # shorter values would mask ordinary words
LOG_FILE_BYTES = 10 << 20
LOG_FILE_BACKUPS = 3

LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
          "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL,
          "fatal": logging.CRITICAL}


def level_number(name: str) -> int | None:
    """The logging level for a config/API name (case-insensitive), or None if unknown."""
    return LEVELS.get(str(name).strip().lower())


# ----------------------------------------------------------------- redaction

_secrets: set[str] = set()
_secrets_sorted: tuple[str, ...] = ()
_secrets_lock = threading.Lock()

_URL = re.compile(r"https?://[^\s\"'<>`]+", re.IGNORECASE)
_LINK_PATH = ("/cdn/", "/dl/", "/d/")
_LINK_QUERY = re.compile(r"(?:^|[?&;])[\w.-]*(?:token|apikey|api_key|auth_token|sig)=", re.IGNORECASE)
# A bare path (as urllib3 logs a request line: 'host "GET /cdn/... HTTP/1.1"'): after a space,
# a quote, a bracket or '=', never inside a URL (whose path follows its host).
_PATH = re.compile(r"(?:(?<=[\s\"'(\[=])|^)/[^\s\"'<>`]+")
_TRAILING = ".,;:!?)]}"
REDACTED = "/…(redacted)"


def register_secret(value: Any) -> None:
    """Mask ``value`` (and its URL-encoded form) in every log line from now on; values
    shorter than six characters are ignored (they would mask ordinary words)."""
    global _secrets_sorted
    if not isinstance(value, str):
        return
    value = value.strip()
    if len(value) < MIN_SECRET:
        return
    with _secrets_lock:
        for form in (value, quote(value, safe="")):
            _secrets.add(form)
        _secrets_sorted = tuple(sorted(_secrets, key=len, reverse=True))


def register_secrets(config: Any) -> None:
    """Every value of a key the config schema marks ``secret`` (debrid API and download keys,
    *arr tokens, NNTP passwords, media server tokens, the rclone rc password), in every section
    and list entry: a new secret key is masked by its ``secret=True`` alone."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.metadata.get("secret"):
            for one in value if isinstance(value, tuple) else (value,):
                register_secret(one)
            continue
        for part in value if isinstance(value, tuple) else (value,):
            if dataclasses.is_dataclass(part) and not isinstance(part, type):
                register_secrets(part)


def _mask(secret: str) -> str:
    return "****" + secret[-4:] if len(secret) >= 16 else "****"


def _redact_url(match: re.Match[str]) -> str:
    url = match.group(0)
    tail = ""
    while url and url[-1] in _TRAILING:
        tail = url[-1] + tail
        url = url[:-1]
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unreadable URL)" + tail
    if _is_link(parts.path, parts.query):
        return f"{parts.scheme}://{host}{port}{REDACTED}{tail}"
    if "@" in parts.netloc:   # user info never reaches a log, whatever the path
        return urlunsplit((parts.scheme, host + port, parts.path, parts.query, parts.fragment)) + tail
    return url + tail


def _is_link(path: str, query: str) -> bool:
    path = path.lower() + "/"
    return any(marker in path for marker in _LINK_PATH) or bool(_LINK_QUERY.search(query))


def _redact_path(match: re.Match[str]) -> str:
    text = match.group(0)
    core = text.rstrip(_TRAILING)
    path, _, query = core.partition("?")
    return REDACTED + text[len(core):] if _is_link(path, query) else text


def redact(text: str) -> str:
    """``text`` with registered secrets masked and download links cut to scheme and host."""
    if not text:
        return text
    if "://" in text:
        text = _URL.sub(_redact_url, text)
    if "/" in text:
        text = _PATH.sub(_redact_path, text)
    for secret in _secrets_sorted:
        if secret in text:
            text = text.replace(secret, _mask(secret))
    return text


_exc_formatter = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Formats the record once (message with its args, exception and stack text) and
    redacts the result in place, so every later handler and formatter sees it clean."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:   # a bad format string: keep what there is, still redacted
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _exc_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._redacted = True
        return True


# ------------------------------------------------------------- memory buffer


class MemoryHandler(logging.Handler):
    """The last ``MEMORY_LINES`` records, redacted, for ``GET /api/logs``."""

    def __init__(self, capacity: int = MEMORY_LINES) -> None:
        super().__init__(logging.NOTSET)
        self._lines: collections.deque[dict[str, Any]] = collections.deque(maxlen=capacity)
        self._lines_lock = threading.Lock()
        self.addFilter(RedactingFilter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_text:
                message = f"{message}\n{record.exc_text}"
            if record.stack_info:
                message = f"{message}\n{record.stack_info}"
            when = datetime.fromtimestamp(record.created, tz=UTC)
            line = {"time": when.isoformat(timespec="milliseconds"), "level": record.levelname,
                    "levelno": record.levelno, "logger": record.name, "message": message}
            with self._lines_lock:
                self._lines.append(line)
        except Exception:
            self.handleError(record)

    def lines(self, limit: int = MEMORY_LINES, min_level: int = logging.NOTSET,
              text: str = "") -> list[dict[str, Any]]:
        """The newest ``limit`` lines at ``min_level`` or above containing ``text``
        (case-insensitive), oldest first."""
        with self._lines_lock:
            snapshot = list(self._lines)
        needle = text.lower()
        chosen = [line for line in snapshot
                  if line["levelno"] >= min_level and (not needle or needle in line["message"].lower()
                                                       or needle in line["logger"].lower())]
        chosen = chosen[-limit:] if limit > 0 else []
        return [{k: v for k, v in line.items() if k != "levelno"} for line in chosen]

    def clear(self) -> None:
        with self._lines_lock:
            self._lines.clear()


MEMORY = MemoryHandler()


def attach_memory_handler() -> MemoryHandler:
    """Attach the memory buffer to the root logger (idempotent) and return it."""
    root = logging.getLogger()
    if MEMORY not in root.handlers:
        root.addHandler(MEMORY)
    return MEMORY


def recent_lines(limit: int = 200, min_level: int = logging.NOTSET, text: str = "") -> list[dict[str, Any]]:
    return MEMORY.lines(limit, min_level, text)


# ------------------------------------------------------------------- set-up


def configure_logging(level: str, log_dir: str = "") -> None:
    root = logging.getLogger()
    number = level_number(level) or logging.INFO
    root.setLevel(number)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter(_FORMAT))
    console.addFilter(RedactingFilter())
    root.addHandler(console)
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            os.path.join(log_dir, "decypharr.log"), maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS,
            encoding="utf-8")
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    attach_memory_handler()
    # Per-request chatter from the servers stays at DEBUG of their own loggers.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("wsgidav").setLevel(logging.DEBUG if number <= logging.DEBUG else logging.WARNING)


def safe_url(url: str) -> str:
    """A URL fit for logs: no user info, no query (indexer links carry API keys and passkeys)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unreadable URL)"
    return urlunsplit((parts.scheme, (parts.hostname or "") + port, parts.path, "", ""))[:120]
