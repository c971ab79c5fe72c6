"""Logging setup, done once by the composition root."""

from __future__ import annotations

import logging
import logging.handlers
import os
from urllib.parse import urlsplit, urlunsplit

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: str, log_dir: str = "") -> None:
    root = logging.getLogger()
    root.setLevel(logging.getLevelName(level.upper().replace("WARN", "WARNING").replace("WARNINGING", "WARNING")))
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(console)
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            os.path.join(log_dir, "decypharr.log"), maxBytes=10 << 20, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    # Per-request chatter from the servers stays at DEBUG of their own loggers.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("wsgidav").setLevel(logging.WARNING if level != "debug" else logging.DEBUG)


def safe_url(url: str) -> str:
    """A URL fit for logs: no user info, no query (indexer links carry API keys and passkeys)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unreadable URL)"
    return urlunsplit((parts.scheme, (parts.hostname or "") + port, parts.path, "", ""))[:120]
