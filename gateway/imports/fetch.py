"""Fetch a .torrent from an http(s) link (``POST /api/add`` with ``url``)."""

from __future__ import annotations

import requests

from gateway.imports.torrentmeta import TorrentMetaError

MAX_TORRENT = 10 << 20
TIMEOUT = (10.0, 30.0)


def fetch_torrent_url(url: str) -> bytes:
    """The file's bytes (at most 10 MiB); errors are ``TorrentMetaError`` with a reason."""
    try:
        with requests.get(url, timeout=TIMEOUT, stream=True, allow_redirects=True) as response:
            if response.status_code != 200:
                raise TorrentMetaError(f"the link answered HTTP {response.status_code}")
            data = b""
            for piece in response.iter_content(65536):
                data += piece
                if len(data) > MAX_TORRENT:
                    raise TorrentMetaError("the linked file is larger than 10 MiB")
            return data
    except requests.RequestException as exc:
        raise TorrentMetaError(f"cannot fetch the link: {type(exc).__name__}") from None
