"""Fuzzing request paths through a running gateway, over a raw socket (nothing normalised).

Any percent-encoded byte string under any frontend (WebDAV, /api, /api/browse, qBit,
SABnzbd, the UI) gets a whole answer on a connection that stays in step: never a 5xx,
never a dropped connection; and a path whose bytes are not UTF-8 is a 400 (issue 15,
item 4: WsgiDAV closed the connection on '%c0%ae', Bottle dropped the bytes silently).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.app import Gateway
from tests.fuzz import FUZZ_SLOW
from tests.integration.test_dot_segments import exchange
from tests.support import start_gateway

FRONTENDS = ["/webdav/", "/webdav/__all__/Tiny%20Movie%202020/", "/api/browse/__all__/", "/api/browse/download/",
             "/api/torrents/", "/api/v2/torrents/", "/sabnzbd/", "/static/", "/"]
METHODS = ["GET", "HEAD", "PROPFIND", "OPTIONS", "DELETE", "PUT", "MKCOL", "MOVE", "COPY", "LOCK", "POST"]
# Byte runs that matter: overlong and surrogate forms, lone continuations, never-valid
# bytes, truncated sequences, dots and separators, valid multi-byte text.
NASTY = [b"\xc0\xae", b"\xe0\x80\xae", b"\xc0\xaf", b"\x80", b"\xbf", b"\xff", b"\xfe", b"\xe2\x82", b"\xf0\x9f\x98",
         b"\xed\xa0\x80", b"\xc3", b".", b"..", b"/", b"\\", b"\x00", "é".encode(), "😀".encode(), b"a"]
raw_paths = st.lists(st.sampled_from(NASTY) | st.binary(max_size=3), max_size=8).map(b"".join)


def encoded(raw: bytes) -> str:
    """Every byte percent-encoded but the unreserved ASCII ones and '/'."""
    keep = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/"
    return "".join(chr(b) if b in keep else f"%{b:02x}" for b in raw)


@pytest.fixture()
def gateway_port(emulator: Any, tmp_path: Any) -> Iterator[int]:
    gw: Gateway = start_gateway(emulator, str(tmp_path / "config"))
    try:
        yield gw.port
    finally:
        gw.stop()


def test_any_path_on_any_frontend_gets_a_whole_answer(gateway_port: int) -> None:
    conn = [socket.create_connection(("127.0.0.1", gateway_port), timeout=5)]   # one keep-alive connection

    @FUZZ_SLOW
    @given(st.sampled_from(FRONTENDS), raw_paths, st.sampled_from(METHODS))
    @example("/webdav/", b"\xc0\xae\xc0\xae/etc/passwd", "GET")   # the report: no answer at all
    @example("/webdav/__all__/Tiny%20Movie%202020/", b"\xc0\xae\xc0\xae/x", "GET")
    @example("/api/browse/__all__/", b"\xc0\xae", "GET")   # Bottle listed /api/browse/__all__/
    def run(frontend: str, raw: bytes, method: str) -> None:
        target = frontend + encoded(raw)
        try:
            answer = exchange(conn[0], method, target)
            follow = exchange(conn[0], "GET", "/version")   # the connection is still in step
        except (AssertionError, OSError):
            conn[0].close()   # a fresh connection for the next example, so shrinking stays honest
            conn[0] = socket.create_connection(("127.0.0.1", gateway_port), timeout=5)
            raise
        assert answer.status < 500 and follow.status == 200, (method, target, answer.status, answer.body[:200])
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            assert answer.status == 400, (method, target, answer.status, answer.body[:200])

    try:
        run()
    finally:
        conn[0].close()
