"""What the qBit handlers (api/qbit_handlers.py) read from a request, and how they answer.

Every parameter is read from the query string and the form alike (the arrs send GET
queries, qbittorrent-api POST forms); an error is plain text with its status, never a
traceback.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Callable
from typing import Any

import bottle

from api.responses import ApiError
from api.web import answer_errors
from gateway.imports.fetch import fetch_torrent_url
from gateway.imports.records import AddRequest
from gateway.imports.torrentmeta import TorrentMetaError, parse_torrent_file
from gateway.log import safe_url

log = logging.getLogger(__name__)

TRUE = ("true", "1", "yes", "on")
_HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")
_BASE32 = re.compile(r"^[A-Za-z2-7]{32}$")


class QbitError(ApiError):
    """Raised by handlers: answered as plain text with this status."""


def text(body: str, status: int = 200) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(body, status=status, headers={"Content-Type": "text/plain; charset=UTF-8"})


_plain_errors = answer_errors(lambda status, message: text(message, status))


def qbit_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Like ``api_errors`` but qBit-style: plain text, and a 500 never says more than that."""
    guarded = _plain_errors(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return guarded(*args, **kwargs)
        except bottle.MultipartError:   # an HTTPError, but a body the client broke: say so in text
            return text("Bad Request: unreadable multipart body", 400)
    return wrapper


# -------------------------------------------------------------- parameters

def param(name: str, default: str = "") -> str:
    """A form field, else a query parameter (qbittorrent-api posts forms, the arrs query)."""
    value = param_or_none(name)
    return default if value is None else value


def param_or_none(name: str) -> str | None:
    request = bottle.request
    # forms.getunicode honours Bottle's per-encoding recoding; params (merged) would
    # decode multipart values twice and lose non-ASCII names.
    value: str | None = request.forms.getunicode(name)
    if value is None:
        value = request.query.getunicode(name)
    return value


def bool_param(name: str, default: bool = False) -> bool:
    value = param_or_none(name)
    return default if value is None or value == "" else value.strip().lower() in TRUE


def float_param(name: str, default: float) -> float:
    try:
        value = float(param(name) or default)
    except ValueError:
        value = math.nan
    # NaN or infinity would reach the arrs as invalid JSON and break every poll.
    if not math.isfinite(value):
        raise QbitError(400, f"'{name}' must be a number")
    return value


def int_param(name: str, default: int) -> int:
    return int(float_param(name, default))


def split_list(raw: str, separator: str) -> list[str]:
    return [item.strip() for item in raw.split(separator) if item.strip()]


def valid_category(name: str) -> bool:
    """qBit's rule (no '\\', no empty '/' segment) plus no '.'/'..': the name becomes a folder."""
    if not name or "\\" in name or not name.isprintable():
        return False
    return all(part and part not in (".", "..") for part in name.split("/"))


def is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


# ------------------------------------------------------------- add helpers

def torrent_parts() -> list[bytes]:
    """Every uploaded file part (qbittorrent-api names them freely, the arrs ``torrents``)."""
    out = []
    for _, item in bottle.request.POST.allitems():
        if not isinstance(item, bottle.FileUpload) or not item.raw_filename:
            continue
        data = item.file.read()
        try:
            parse_torrent_file(data)
        except TorrentMetaError:
            name = item.raw_filename[:200]
            raise QbitError(415, f"Error: '{name}' is not a valid torrent file.") from None
        out.append(data)
    return out


def url_request(url: str, category: str, tags: tuple[str, ...]) -> AddRequest | None:
    """A magnet, a bare infohash, or an http(s) link to a .torrent; None (logged) otherwise."""
    if _HEX40.match(url) or _BASE32.match(url):
        url = f"magnet:?xt=urn:btih:{url}"
    if url.lower().startswith("magnet:"):
        return AddRequest(magnet=url, category=category, tags=tags)
    if is_url(url):
        try:
            return AddRequest(torrent_file=fetch_torrent_url(url), category=category, tags=tags)
        except TorrentMetaError as exc:
            log.info("qbit add: %s: %s", safe_url(url), exc)
            return None
    log.info("qbit add: not a magnet, infohash or http(s) link: %s", safe_url(url) or "(unreadable)")
    return None
