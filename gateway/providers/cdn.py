"""Byte transport from provider CDNs: ranged GETs on unrestricted links.

Shared by every reader (WebDAV, browse, FUSE). Maps CDN answers into the
gateway's errors: an expired or refused link (403/404/410) is
``LinkExpired`` (unrestrict again), 503 is ``QuotaExceeded`` or transient,
and a 200 answered to a ranged request is served by skipping exactly to the
offset and stopping where the range ends.
"""

from __future__ import annotations

import logging
import re

import requests
from urllib3.exceptions import HTTPError

from gateway import errors
from gateway.providers.http import make_session, redact

log = logging.getLogger(__name__)

STREAM_PIECE = 256 * 1024
CDN_TIMEOUT = (10.0, 30.0)


class CdnStream:
    """One open GET from ``start``; ``read`` returns the next bytes, b"" at the end.

    ``skip`` is how many body bytes come before ``start`` (a CDN that answered a
    ranged GET with 200 and the whole file, or a 206 that starts early): they are
    read and dropped before the first byte is returned. ``limit`` is how many bytes
    from ``start`` the caller asked for (None: to the end); a body longer than
    that (the same 200) is cut there, so a read never returns more than asked.
    """

    def __init__(self, response: requests.Response, start: int, skip: int = 0, limit: int | None = None) -> None:
        self._response = response
        self._raw = response.raw
        self._skip = skip
        self._left = limit
        self.position = start

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes (never more); raises ``Unavailable`` if the connection broke.

        Pieces are collected and joined once: growing one buffer piece by piece
        would copy an 8 MiB chunk sixteen times over.
        """
        if self._left is not None:
            size = min(size, self._left)
        if size <= 0 or not self._discard_prefix():
            return b""
        pieces: list[bytes] = []
        have = 0
        while have < size:
            piece = self._raw_read(min(STREAM_PIECE, size - have))
            if not piece:
                break
            pieces.append(piece)
            have += len(piece)
        data = b"".join(pieces)   # a single piece comes back as itself, uncopied
        self.position += len(data)
        if self._left is not None:
            self._left -= len(data)
        return data

    def _discard_prefix(self) -> bool:
        """Drop the body bytes before ``start``; False if the body ended first."""
        while self._skip:
            piece = self._raw_read(min(STREAM_PIECE, self._skip))
            if not piece:
                return False
            self._skip -= len(piece)
        return True

    def _raw_read(self, size: int) -> bytes:
        """At most ``size`` bytes from the socket."""
        try:
            return self._raw.read(size, decode_content=False)
        except (requests.RequestException, OSError, HTTPError) as exc:
            raise errors.Unavailable(f"cdn: stream broke at {self.position}: {type(exc).__name__}",
                                     code="stream_broken") from None

    def close(self) -> None:
        self._response.close()


class CdnClient:
    """Opens ranged streams; connection pooling is shared by all readers."""

    def __init__(self, user_agent: str = "", pool: int = 64) -> None:
        self._session = make_session(user_agent, pool=pool)

    def close(self) -> None:
        self._session.close()

    def open(self, url: str, start: int, end: int | None = None) -> CdnStream:
        """GET bytes ``start``..``end`` (inclusive; None = to the end of the file)."""
        wanted = f"bytes={start}-{'' if end is None else end}"
        headers = {"Range": wanted, "Accept-Encoding": "identity"}
        try:
            response = self._session.get(url, headers=headers, stream=True, timeout=CDN_TIMEOUT)
        except requests.RequestException as exc:
            raise errors.Unavailable(f"cdn: cannot connect: {type(exc).__name__}", code="connect") from None
        status = response.status_code
        limit = None if end is None else end + 1 - start
        if status == 206:
            return CdnStream(response, start, _skip_206(response, start, url), limit)
        if status == 200:
            # Some CDNs and proxies ignore Range and send the whole file: skip to the offset ourselves.
            return CdnStream(response, start, start, limit)
        response.close()
        raise _cdn_error(status, url)


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-\d+/(?:\d+|\*)", re.IGNORECASE)


def _skip_206(response: requests.Response, start: int, url: str) -> int:
    """Bytes of a 206 body before ``start``: none, unless ``Content-Range`` says it starts early.

    A 206 that starts past ``start`` cannot serve the read (the bytes asked for
    are not in it): it is closed and counted as a transient failure.
    """
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", "").strip())
    first = int(match.group(1)) if match else start
    if first > start:
        response.close()
        log.debug("cdn %s: asked for bytes from %d, got them from %d", redact(url)[:80], start, first)
        raise errors.Unavailable(f"cdn: range starts at {first}, not {start}", code="bad_range")
    return start - first


def _cdn_error(status: int, url: str) -> errors.ProviderError:
    log.debug("cdn %s -> %d", redact(url)[:80], status)
    if status in (403, 404, 410):
        return errors.LinkExpired(f"cdn: link refused ({status})", code=str(status), status=status)
    if status == 416:
        return errors.BadRequest("cdn: range not satisfiable", code="416", status=status)
    if status == 429:
        return errors.RateLimited("cdn: throttled", code="429", status=status)
    if status == 503:
        return errors.QuotaExceeded("cdn: unavailable or traffic exhausted", code="503", status=status)
    return errors.Unavailable(f"cdn: HTTP {status}", code=str(status), status=status)
