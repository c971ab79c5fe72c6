"""Byte transport from provider CDNs: ranged GETs on unrestricted links.

Shared by every reader (WebDAV, browse, FUSE). Maps CDN answers into the
gateway's errors: an expired or refused link (403/404/410) is
``LinkExpired`` (unrestrict again), 503 is ``QuotaExceeded`` or transient,
and a 200 answered to a ranged request is tolerated by skipping ahead.
"""

from __future__ import annotations

import logging

import requests
from urllib3.exceptions import HTTPError

from gateway import errors
from gateway.providers.http import make_session, redact

log = logging.getLogger(__name__)

STREAM_PIECE = 256 * 1024
CDN_TIMEOUT = (10.0, 30.0)


class CdnStream:
    """One open ranged GET; ``read`` returns the next bytes, b"" at the end."""

    def __init__(self, response: requests.Response, start: int, skip: int) -> None:
        self._response = response
        self._raw = response.raw
        self._skip = skip
        self.position = start

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; raises ``Unavailable`` if the connection broke.

        Pieces are collected and joined once: growing one buffer piece by piece
        would copy an 8 MiB chunk sixteen times over.
        """
        pieces: list[bytes] = []
        have = 0
        while have < size:
            piece = self._next(min(STREAM_PIECE, size - have + self._skip))
            if not piece:
                break
            pieces.append(piece)
            have += len(piece)
        data = b"".join(pieces)   # a single piece comes back as itself, uncopied
        self.position += len(data)
        return data

    def _next(self, size: int) -> bytes:
        """The next bytes from the socket, past any bytes a CDN sent that we did not ask for."""
        while True:
            try:
                piece = self._raw.read(size, decode_content=False)
            except (requests.RequestException, OSError, HTTPError) as exc:
                raise errors.Unavailable(f"cdn: stream broke at {self.position}: {type(exc).__name__}",
                                         code="stream_broken") from None
            if not piece or not self._skip:
                return piece
            cut = min(self._skip, len(piece))
            piece, self._skip = piece[cut:], self._skip - cut
            if piece:
                return piece

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
        if status == 206:
            return CdnStream(response, start, 0)
        if status == 200:
            # Some CDNs ignore Range: skip to the offset ourselves.
            return CdnStream(response, start, start)
        response.close()
        raise _cdn_error(status, url)


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
