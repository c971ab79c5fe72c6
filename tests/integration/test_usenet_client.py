"""The usenet client against the NNTP emulator over real sockets: servers, pools, lanes, hedging."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from emulators.usenet import ArticleStore, NNTPServer
from emulators.usenet.yenc import encode_part
from gateway.clock import SystemClock
from gateway.providers.budget import Lane
from gateway.usenet import ArticleMissing, Usenet, UsenetServerConfig, UsenetUnavailable
from gateway.usenet import pool as pool_module
from tests.support import FakeClock, wait_until

PART = 16 * 1024


def release(store: ArticleStore, name: str = "movie.mkv", size: int = 5 * PART + 1234) -> tuple[bytes, list[str]]:
    """A file split into yEnc articles in ``store``; returns its bytes and message-ids in order."""
    data = os.urandom(size)
    total = -(-size // PART)
    ids = []
    for index in range(total):
        begin = index * PART
        mid = f"{name}.{index + 1}@test"
        store.add(mid, encode_part(data[begin:begin + PART], name=name, file_size=size, part=index + 1,
                                   total=total, begin=begin))
        ids.append(mid)
    return data, ids


def served(server: NNTPServer, expected: dict[str, int]) -> None:
    """The emulator counts an article once it has sent it all, a moment after the client has it."""
    wait_until(lambda: server.stats().served_by_id == expected, timeout=5, what=f"{server.name} served {expected}")
    assert server.stats().served_by_id == expected


@pytest.fixture
def store() -> ArticleStore:
    return ArticleStore()


@pytest.fixture
def servers(store: ArticleStore) -> Iterator[list[NNTPServer]]:
    started: list[NNTPServer] = []
    yield started
    for server in started:
        server.stop()


def serve(started: list[NNTPServer], store: ArticleStore, name: str, **kwargs: object) -> NNTPServer:
    server = NNTPServer(store, name=name, **kwargs).start()
    started.append(server)
    return server


def config(server: NNTPServer, **kwargs: object) -> UsenetServerConfig:
    return UsenetServerConfig(name=server.name, host=server.host, port=server.port, **kwargs)


@pytest.fixture
def closing() -> Iterator[list[Usenet]]:
    made: list[Usenet] = []
    yield made
    for client in made:
        client.close()


def client(made: list[Usenet], servers: list[UsenetServerConfig], clock: object = None, **kwargs: object) -> Usenet:
    usenet = Usenet(servers, clock or SystemClock(), **kwargs)
    made.append(usenet)
    return usenet


def test_login_and_read_a_file_back(store: ArticleStore, servers: list[NNTPServer], closing: list[Usenet]) -> None:
    data, ids = release(store)
    primary = serve(servers, store, "primary", username="u", password="secret")
    usenet = client(closing, [config(primary, username="u", password="secret")])
    parts = list(usenet.bodies(ids))
    assert b"".join(p.data for p in parts) == data
    assert [(p.part, p.total, p.begin) for p in parts] == [(i + 1, len(ids), i * PART) for i in range(len(ids))]
    assert parts[-1].end == len(data) and parts[0].file_size == len(data) and parts[0].name == "movie.mkv"
    assert usenet.stat(ids[0]) is True
    health = usenet.health()["primary"]
    assert health["articles"] == len(ids) and health["bytes"] == len(data) and health["state"] == "ok"
    usenet.check_login(config(primary, username="u", password="secret"))


def test_login_refused_is_unavailable_and_named(store: ArticleStore, servers: list[NNTPServer],
                                               closing: list[Usenet]) -> None:
    _, ids = release(store)
    primary = serve(servers, store, "primary", username="u", password="secret")
    usenet = client(closing, [config(primary, username="u", password="wrong")])
    with pytest.raises(UsenetUnavailable, match="login refused"):
        usenet.body(ids[0])
    assert usenet.health()["primary"]["state"] == "login refused"
    with pytest.raises(UsenetUnavailable, match="login refused"):
        usenet.check_login(config(primary, username="u", password="wrong"))
    assert "wrong" not in repr(config(primary, username="u", password="wrong"))


def test_missing_at_primary_comes_from_backup(store: ArticleStore, servers: list[NNTPServer],
                                              closing: list[Usenet]) -> None:
    data, ids = release(store)
    primary = serve(servers, store, "primary")
    backup = serve(servers, store, "backup")
    primary.set_missing([ids[1]])
    # The backup is listed first: config order must not make it a primary.
    usenet = client(closing, [config(backup, backup=True), config(primary)])
    assert b"".join(p.data for p in usenet.bodies(ids)) == data
    served(backup, {ids[1]: 1})
    assert usenet.health()["primary"]["missing"] == 1
    backup.set_missing([ids[1]])
    with pytest.raises(ArticleMissing, match=ids[1]):
        usenet.body(ids[1])
    assert usenet.stat(ids[1]) is False


def test_backbone_430_skips_its_siblings(store: ArticleStore, servers: list[NNTPServer],
                                         closing: list[Usenet]) -> None:
    data, ids = release(store)
    first = serve(servers, store, "first")
    sibling = serve(servers, store, "sibling")
    other = serve(servers, store, "other")
    first.set_missing(ids)
    usenet = client(closing, [config(first, backbone="omicron", priority=0),
                              config(sibling, backbone="omicron", priority=1), config(other, priority=2)])
    assert usenet.body(ids[0]).data == data[:PART]
    assert sibling.stats().commands.get("BODY", 0) == 0
    served(other, {ids[0]: 1})


def test_bad_crc_goes_to_the_next_server(store: ArticleStore, servers: list[NNTPServer],
                                         closing: list[Usenet]) -> None:
    data, ids = release(store)
    primary = serve(servers, store, "primary")
    second = serve(servers, store, "second")
    primary.set_bad_crc([ids[2]])
    usenet = client(closing, [config(primary), config(second, priority=1)])
    assert usenet.body(ids[2]).data == data[2 * PART:3 * PART]
    served(second, {ids[2]: 1})
    assert usenet.health()["primary"]["damaged"] == 1
    # the damaged answer is a failed exchange: in ``errors`` too (what /health shows), at that server only
    assert usenet.health()["primary"]["errors"] == 1 and usenet.health()["second"]["errors"] == 0
    second.set_bad_crc([ids[2]])
    with pytest.raises(ArticleMissing):
        usenet.body(ids[2])


def test_drop_mid_body_is_retried_then_next_server(store: ArticleStore, servers: list[NNTPServer],
                                                   closing: list[Usenet]) -> None:
    data, ids = release(store)
    primary = serve(servers, store, "primary")
    backup = serve(servers, store, "backup")
    primary.set_drop_mid_body([ids[0]])
    usenet = client(closing, [config(primary), config(backup, backup=True)])
    assert usenet.body(ids[0]).data == data[:PART]
    assert primary.stats().dropped == 2   # one retry on a fresh connection, then the next server
    served(backup, {ids[0]: 1})
    # The primary still serves everything else, on a connection opened after the drops.
    assert usenet.body(ids[1]).data == data[PART:2 * PART]


def test_late_article_is_hedged_on_another_server(store: ArticleStore, servers: list[NNTPServer],
                                                  closing: list[Usenet]) -> None:
    data, ids = release(store)
    slow = serve(servers, store, "slow")
    fast = serve(servers, store, "fast")
    usenet = client(closing, [config(slow), config(fast, priority=1)], hedge_after=0.3)
    assert usenet.body(ids[0]).data == data[:PART]   # connections warm, no latency yet
    slow.set_latency(5.0)
    started = time.monotonic()
    assert usenet.body(ids[1]).data == data[PART:2 * PART]
    took = time.monotonic() - started
    assert took < 2.5, f"hedge did not win: {took:.2f}s"
    wait_until(lambda: fast.stats().served_by_id.get(ids[1]) == 1, what="the hedge served by fast")
    # The loser's read was aborted: its connection slot is free again.
    wait_until(lambda: usenet.health()["slow"]["connections"] == 0, what="slow connection aborted")


def test_connections_never_exceed_the_cap_across_lanes(store: ArticleStore, servers: list[NNTPServer],
                                                       closing: list[Usenet]) -> None:
    data, ids = release(store, size=12 * PART)
    primary = serve(servers, store, "primary", max_connections=5)
    primary.set_latency(0.01)
    usenet = client(closing, [config(primary, max_connections=5)], stream_connections=4)
    errors: list[BaseException] = []

    def work(which: Lane) -> None:
        try:
            for _ in range(2):
                assert b"".join(p.data for p in usenet.bodies(ids, lane=which)) == data
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(which,)) for which in Lane for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    stats = primary.stats()
    assert stats.rejected == 0
    assert stats.connections_peak <= 5
    assert usenet.health()["primary"]["peak"] <= 4   # max_connections less the headroom


def test_a_reader_overtakes_queued_background_work(store: ArticleStore, servers: list[NNTPServer],
                                                   closing: list[Usenet]) -> None:
    _, ids = release(store, size=8 * PART)
    primary = serve(servers, store, "primary")
    primary.set_latency(0.2)
    usenet = client(closing, [config(primary, max_connections=1)], hedge_after=0)
    done: list[str] = []
    lock = threading.Lock()

    def fetch(mid: str, which: Lane, tag: str) -> None:
        usenet.body(mid, lane=which)
        with lock:
            done.append(tag)

    background = [threading.Thread(target=fetch, args=(ids[i], Lane.BACKGROUND, f"bg{i}")) for i in range(6)]
    for thread in background:
        thread.start()
    wait_until(lambda: usenet.health()["primary"]["waiting"] >= 5, what="background queued")
    reader = threading.Thread(target=fetch, args=(ids[7], Lane.INTERACTIVE, "reader"))
    reader.start()
    for thread in [*background, reader]:
        thread.join(30)
    assert "reader" in done[:2], done   # at most the one background article already in flight goes first


def test_idle_connections_close_after_a_minute(store: ArticleStore, servers: list[NNTPServer],
                                               closing: list[Usenet]) -> None:
    _, ids = release(store)
    primary = serve(servers, store, "primary")
    clock = FakeClock()
    usenet = client(closing, [config(primary)], clock)
    usenet.body(ids[0])
    assert primary.stats().connections_current == 1
    clock.advance(59)
    assert usenet.reap_idle() == 0
    clock.advance(2)
    assert usenet.reap_idle() == 1
    wait_until(lambda: primary.stats().connections_current == 0, what="idle connection closed")
    assert primary.stats().commands.get("QUIT") == 1


def fail_until_resting(primary: NNTPServer, usenet: Usenet, mid: str, match: str | None = None) -> None:
    """Stop the server and fail as many reads as it takes the breaker to rest it."""
    primary.stop()
    for _ in range(pool_module.FAILS_TO_REST):
        with pytest.raises(UsenetUnavailable, match=match):
            usenet.body(mid)


def test_breaker_rests_a_failing_server_and_recovers(store: ArticleStore, servers: list[NNTPServer],
                                                     closing: list[Usenet]) -> None:
    data, ids = release(store)
    primary = serve(servers, store, "primary")
    clock = FakeClock()
    usenet = client(closing, [config(primary)], clock)
    fail_until_resting(primary, usenet, ids[0], match="cannot connect")
    health = usenet.health()["primary"]
    assert health["state"] == "resting" and health["errors"] == pool_module.FAILS_TO_REST
    primary.start()
    with pytest.raises(UsenetUnavailable, match="resting"):
        usenet.body(ids[0])   # resting: not even tried
    assert primary.stats().connections_total == 0
    clock.advance(pool_module.REST_START + 0.1)
    assert usenet.body(ids[0]).data == data[:PART]
    assert usenet.health()["primary"]["state"] == "ok"


def test_breaker_pauses_grow_while_failing(store: ArticleStore, servers: list[NNTPServer],
                                           closing: list[Usenet]) -> None:
    _, ids = release(store)
    primary = serve(servers, store, "primary")
    clock = FakeClock()
    usenet = client(closing, [config(primary)], clock)
    fail_until_resting(primary, usenet, ids[0])
    assert usenet.health()["primary"]["resting_for"] == pytest.approx(pool_module.REST_START)
    clock.advance(pool_module.REST_START + 0.1)
    with pytest.raises(UsenetUnavailable, match="cannot connect"):
        usenet.body(ids[0])   # one more failure after the rest: rest again, twice as long
    assert usenet.health()["primary"]["resting_for"] == pytest.approx(2 * pool_module.REST_START)


def test_502_at_login_shrinks_the_pool_and_it_grows_back(store: ArticleStore, servers: list[NNTPServer],
                                                         closing: list[Usenet]) -> None:
    data, ids = release(store, size=12 * PART)
    primary = serve(servers, store, "primary", max_connections=2)
    primary.set_latency(0.05)
    clock = FakeClock()
    usenet = client(closing, [config(primary, max_connections=8)], clock, stream_connections=7)
    assert b"".join(p.data for p in usenet.bodies(ids)) == data
    health = usenet.health()["primary"]
    assert health["refused_502"] >= 1
    assert health["limit"] <= 2
    shrunk = health["limit"]
    primary.reset_stats()
    assert b"".join(p.data for p in usenet.bodies(ids)) == data
    assert primary.stats().rejected == 0   # the shrunk pool stays within the account
    clock.advance(pool_module.GROW_EVERY + 1)
    usenet.body(ids[0])
    assert usenet.health()["primary"]["limit"] == shrunk + 1


def test_tls(store: ArticleStore, servers: list[NNTPServer], closing: list[Usenet], tmp_path: object) -> None:
    from emulators.usenet.tls import TlsUnavailable, self_signed
    try:
        pair = self_signed(tmp_path)
    except TlsUnavailable as exc:
        pytest.skip(str(exc))
    data, ids = release(store)
    primary = serve(servers, store, "primary", ssl_context=pair.server)
    usenet = client(closing, [config(primary, ssl=True)], ssl_context=pair.client)
    assert usenet.body(ids[0]).data == data[:PART]
    other = client(closing, [config(primary, ssl=True)])   # the system's trust: a self-signed cert fails
    with pytest.raises(UsenetUnavailable, match="TLS"):
        other.body(ids[0])


def test_closing_bodies_cancels_what_is_still_queued(store: ArticleStore, servers: list[NNTPServer],
                                                     closing: list[Usenet]) -> None:
    data, ids = release(store, size=30 * PART)
    primary = serve(servers, store, "primary")
    primary.set_latency(0.3)
    usenet = client(closing, [config(primary, max_connections=2)], stream_connections=10, hedge_after=0)
    stream = usenet.bodies(ids)
    assert next(stream).data == data[:PART]
    stream.close()   # a seek: the read-ahead is no longer wanted
    wait_until(lambda: usenet.health()["primary"]["waiting"] == 0, what="queued fetches withdrawn")
    served = primary.stats().articles_served
    assert served < 10, served   # far fewer than the 10 the window had asked for
