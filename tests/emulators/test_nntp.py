"""The NNTP emulator over real sockets: every verb, login, 430, the 502 cap, drops, bad CRC,
latency and bandwidth knobs, TLS, counters, stop and restart on the same port."""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.usenet import ArticleStore, NNTPServer
from emulators.usenet.tls import TlsUnavailable, self_signed
from emulators.usenet.wire import dot_unstuff
from emulators.usenet.yenc import decode_body, encode_part
from tests.support import wait_until

USER, PASSWORD = "reader", "s3cret-pass"
DATA = bytes(range(256)) * 200   # 50 KiB, every byte value


class Client:
    """A bare NNTP client: one command, one status line, an optional dot-terminated block."""

    def __init__(self, server: NNTPServer, context: ssl.SSLContext | None = None) -> None:
        raw = socket.create_connection(server.address, timeout=10)
        self.sock = context.wrap_socket(raw, server_hostname="127.0.0.1") if context else raw
        self.rfile = self.sock.makefile("rb")
        self.greeting = self.line()

    def line(self) -> str:
        raw = self.rfile.readline()
        if not raw:
            raise EOFError("server closed the connection")
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    def cmd(self, text: str) -> str:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.line()

    def block(self) -> bytes:
        """The block up to the lone '.', still dot-stuffed."""
        parts: list[bytes] = []
        while True:
            raw = self.rfile.readline()
            if not raw:
                raise EOFError("connection closed inside a block")
            if raw == b".\r\n":
                return b"".join(parts)
            parts.append(raw)

    def login(self, user: str = USER, password: str = PASSWORD) -> str:
        assert self.cmd(f"AUTHINFO USER {user}").startswith("381")
        return self.cmd(f"AUTHINFO PASS {password}")

    def close(self) -> None:
        self.rfile.close()
        self.sock.close()


def _article(mid: str, data: bytes = DATA) -> bytes:
    return encode_part(data, name="file.bin", file_size=len(data) * 3, part=2, total=3,
                       begin=len(data), engine="python", escape_dot=False)


@pytest.fixture
def store() -> ArticleStore:
    st = ArticleStore()
    st.add("a1@test", _article("a1@test"), {"Subject": '"file.bin" yEnc (2/3)'})
    st.add("<a2@test>", _article("a2@test", b"second"), {})
    st.add("lazy@test", lambda: _article("lazy@test", b"made on demand"))
    st.add("dots@test", _article("dots@test", b"\x04" * 300))   # byte 4 encodes as '.'
    return st


@pytest.fixture
def server(store: ArticleStore) -> Iterator[NNTPServer]:
    with NNTPServer(store, username=USER, password=PASSWORD) as srv:
        yield srv


@pytest.fixture
def client(server: NNTPServer) -> Iterator[Client]:
    c = Client(server)
    yield c
    c.close()


def test_every_verb_in_one_conversation(server: NNTPServer, client: Client) -> None:
    assert client.greeting.startswith("200")
    assert client.cmd("CAPABILITIES").startswith("101")
    assert b"READER\r\n" in client.block()
    assert client.cmd("MODE READER").startswith("200")
    assert client.cmd("BODY <a1@test>").startswith("480")       # not logged in yet
    assert client.cmd("AUTHINFO PASS x").startswith("482")      # PASS before USER
    assert client.login(password="wrong").startswith("481")
    assert client.login().startswith("281")
    assert client.cmd("STAT <a1@test>") == "223 0 <a1@test>"
    assert client.cmd("STAT <nope@test>").startswith("430")
    assert client.cmd("STAT 12").startswith("412")              # numbers need a group
    assert client.cmd("BODY <a1@test>") == "222 0 <a1@test>"
    part = decode_body(dot_unstuff(client.block()))
    assert part.data == DATA and part.crc_ok and (part.part, part.total, part.begin) == (2, 3, len(DATA) + 1)
    assert client.cmd("ARTICLE <a1@test>").startswith("220")
    head, _, body = dot_unstuff(client.block()).partition(b"\r\n\r\n")
    assert b"Message-ID: <a1@test>" in head and b'Subject: "file.bin" yEnc (2/3)' in head
    assert decode_body(body).data == DATA
    assert client.cmd("HEAD <a2@test>").startswith("221")
    assert client.block().startswith(b"Message-ID: <a2@test>\r\n")
    assert client.cmd("BODY <lazy@test>").startswith("222")
    assert decode_body(dot_unstuff(client.block())).data == b"made on demand"
    assert client.cmd("GROUP alt.binaries.test") == "211 4 1 4 alt.binaries.test"
    assert client.cmd("STAT 12").startswith("423")
    assert re.fullmatch(r"111 \d{14}", client.cmd("DATE"))
    assert client.cmd("XOVER 1-2").startswith("500")
    assert client.cmd("QUIT").startswith("205")
    assert client.rfile.readline() == b""
    stats = server.stats()
    assert stats.commands["BODY"] == 3 and stats.commands["AUTHINFO"] == 5 and stats.commands["XOVER"] == 1
    assert stats.articles_served == 3 and stats.served_by_id == {"a1@test": 2, "lazy@test": 1}
    assert stats.missing == 1 and stats.auth_failures == 1 and stats.bytes_sent > 2 * len(DATA)


def test_body_is_dot_stuffed_on_the_wire(client: Client) -> None:
    client.login()
    client.cmd("BODY <dots@test>")
    raw = client.block()
    assert b"\r\n" + b"." * 129 + b"\r\n" in raw   # escape_dot=False: 128 dots, doubled first
    assert decode_body(dot_unstuff(raw)).data == b"\x04" * 300


def test_failed_login_knob(server: NNTPServer, client: Client) -> None:
    server.set_fail_login(True)
    assert client.login().startswith("481")
    assert client.cmd("STAT <a1@test>").startswith("480")
    server.set_fail_login(False)
    assert client.login().startswith("281")


def test_missing_on_one_server_served_by_a_backup_sharing_the_store(
        server: NNTPServer, store: ArticleStore, client: Client) -> None:
    server.set_missing(["<a1@test>"])
    with NNTPServer(store, name="backup") as backup:
        other = Client(backup)
        try:
            assert other.cmd("STAT <a1@test>").startswith("223")   # no login on this one
        finally:
            other.close()
    client.login()
    assert client.cmd("BODY <a1@test>").startswith("430")
    assert client.cmd("STAT <a2@test>").startswith("223")


def test_missing_fraction_is_stable_and_roughly_that_share(server: NNTPServer) -> None:
    server.set_missing(fraction=0.3, seed="x")
    ids = [f"id{i}@t" for i in range(2000)]
    first = [server.knobs.is_missing(i) for i in ids]
    assert first == [server.knobs.is_missing(i) for i in ids]
    assert 0.25 < sum(first) / len(ids) < 0.35


def test_connection_cap_answers_502_at_greeting(server: NNTPServer) -> None:
    server.set_max_connections(2)
    a, b = Client(server), Client(server)
    c = Client(server)
    assert (a.greeting[:3], b.greeting[:3], c.greeting[:3]) == ("200", "200", "502")
    with pytest.raises(EOFError):
        c.line()
    a.close()
    wait_until(lambda: server.stats().connections_current == 1, 5, "1 connections open")
    d = Client(server)
    assert d.greeting.startswith("200")
    stats = server.stats()
    assert stats.rejected == 1 and stats.connections_peak == 3 and stats.connections_total == 4
    for x in (b, c, d):
        x.close()
    wait_until(lambda: server.stats().connections_current == 0, 5, "0 connections open")


def test_connection_cap_answers_502_after_login(server: NNTPServer) -> None:
    server.set_max_connections(1, reply_at="login")
    a, b = Client(server), Client(server)
    assert a.greeting.startswith("200") and b.greeting.startswith("200")
    assert a.login().startswith("281")
    assert b.login().startswith("502")
    with pytest.raises(EOFError):
        b.line()
    a.close()
    b.close()


def test_drop_mid_body(server: NNTPServer, client: Client) -> None:
    server.set_drop_mid_body(["a1@test"])
    client.login()
    assert client.cmd("BODY <a1@test>").startswith("222")
    with pytest.raises(EOFError):
        client.block()
    assert server.stats().dropped == 1 and server.stats().articles_served == 0


def test_bad_crc_knob(server: NNTPServer, client: Client) -> None:
    server.set_bad_crc(["a1@test"])
    client.login()
    client.cmd("BODY <a1@test>")
    bad = decode_body(dot_unstuff(client.block()))
    assert bad.data == DATA and not bad.crc_ok
    client.cmd("BODY <a2@test>")
    assert decode_body(dot_unstuff(client.block())).crc_ok


def test_latency_per_command(server: NNTPServer, client: Client) -> None:
    client.login()
    start = time.monotonic()
    client.cmd("STAT <a1@test>")
    fast = time.monotonic() - start
    server.set_latency(0.25)
    start = time.monotonic()
    assert client.cmd("STAT <a1@test>").startswith("223")
    slow = time.monotonic() - start
    assert fast < 0.2 and 0.25 <= slow < 3.0


def test_bandwidth_cap_per_connection(server: NNTPServer, client: Client) -> None:
    client.login()
    size = len(_article("a1@test"))
    server.set_bandwidth(size / 0.5)    # the article should take at least ~0.5 s
    start = time.monotonic()
    client.cmd("BODY <a1@test>")
    client.block()
    took = time.monotonic() - start
    assert 0.45 <= took < 5.0
    server.set_bandwidth(None)
    start = time.monotonic()
    client.cmd("BODY <a1@test>")
    client.block()
    assert time.monotonic() - start < 0.3


def test_counts_concurrent_connections(server: NNTPServer) -> None:
    clients = [Client(server) for _ in range(5)]
    wait_until(lambda: server.stats().connections_current == 5, 5, "5 connections open")
    for c in clients:
        c.close()
    wait_until(lambda: server.stats().connections_current == 0, 5, "0 connections open")
    assert server.stats().connections_peak == 5
    server.reset_stats()
    assert server.stats().connections_peak == 0 and server.stats().commands == {}


def test_stop_closes_clients_and_restarts_on_the_same_port(server: NNTPServer) -> None:
    c = Client(server)
    port = server.port
    server.stop()
    assert c.rfile.readline() == b""
    c.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    server.start()
    assert server.port == port
    again = Client(server)
    assert again.greeting.startswith("200")
    again.close()


def test_tls(store: ArticleStore, tmp_path: Path) -> None:
    try:
        pair = self_signed(tmp_path)
    except TlsUnavailable as exc:
        pytest.skip(str(exc))
    with NNTPServer(store, ssl_context=pair.server) as srv:
        c = Client(srv, pair.client)
        assert c.greeting.startswith("200")
        assert c.cmd("BODY <a1@test>").startswith("222")
        assert decode_body(dot_unstuff(c.block())).data == DATA
        c.close()
        plain = socket.create_connection(srv.address, timeout=10)   # no TLS: no greeting, closed
        plain.sendall(b"QUIT\r\n")
        try:
            assert plain.recv(100) == b""
        except ConnectionResetError:
            pass
        plain.close()
