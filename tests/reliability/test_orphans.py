"""SIGKILL during adds whose answer never arrives, though the provider makes the torrent.

The emulator holds every add (a ``hold`` fault rule) while the gateway is killed
and started again at once; the restarted gateway does not find the torrents yet
and adds them again. Only then are the held adds let through: each makes a
second copy that no answer announces. The gateway recorded each add (account
and time) before the call, so a later listing knows those copies as its own
and deletes them: at the end every infohash is held once at the provider and
listed once in qBit. A copy the user adds at the provider himself is never
deleted.

TorBox refuses a second copy of a hash itself (``DUPLICATE_ITEM``), so no orphan
can arise there: its run passes on the old code too and stays as a guard that
reconciliation never deletes an import's only copy.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import qbittorrentapi
import requests

from emulators.server import KEYS, Emulator
from gateway.config import parse_config
from gateway.providers import Provider, build_provider
from tests.integration.test_crash import start
from tests.support import TOKEN, TickClock, infohash, wait_until

IN_FLIGHT = 6
# The POST that adds a magnet, per provider (where the emulator holds it).
ADD_PATHS = {"realdebrid": r"/torrents/addMagnet$", "alldebrid": r"/magnet/upload$",
             "torbox": r"/torrents/createtorrent$", "debridlink": r"/seedbox/add$",
             "premiumize": r"/transfer/create$"}


@pytest.fixture(params=sorted(ADD_PATHS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def emu(kind: str) -> Iterator[Emulator]:
    with Emulator(rate_limit=False) as e:
        e.world.add_account(TOKEN, provider=KEYS[kind])
        yield e


def provider_client(emu: Emulator, kind: str) -> Provider:
    """The gateway's own client, from the test: what the account holds, over real HTTP."""
    raw = {"debrids": [{"name": kind, "provider": kind, "api_key": TOKEN, "api_url": emu.api_url(kind),
                        "rate_limit": "off"}]}
    return build_provider(parse_config(raw, "/tmp/orphans").debrids[0], TickClock())


def held(client: Provider, hashes: list[str]) -> Counter[str]:
    return Counter(t.infohash for t in client.list_torrents() if t.infohash in hashes)


def write_config(config_dir: Path, emu: Emulator, kind: str) -> None:
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps({
        "bind_address": "127.0.0.1", "use_auth": False, "refresh_interval": "200ms",
        "default_download_action": "none", "max_active_downloads": IN_FLIGHT,
        "debrids": [{"name": kind, "provider": kind, "api_key": TOKEN, "api_url": emu.api_url(kind),
                     "rate_limit": "off", "torrents_refresh_interval": "1s"}]}))


def add(url: str, hashes: list[str]) -> None:
    for h in hashes:
        answer = requests.post(url + "api/add", json={"url": f"magnet:?xt=urn:btih:{h}"}, timeout=10)
        assert answer.status_code == 200, answer.text


def complete(url: str, hashes: list[str]) -> bool:
    states = {t["hash"]: t["state"] for t in requests.get(url + "api/torrents", timeout=10).json()}
    return all(states.get(h) == "pausedUP" for h in hashes)


def answered_adds(emu: Emulator, kind: str) -> int:
    """Adds the provider has carried out (the held ones too, though nobody read their answer)."""
    return sum(1 for e in emu.world.log() if e["method"] == "POST" and re.search(ADD_PATHS[kind], e["path"])
               and e["status"] is not None)


def crash_during_adds(emu: Emulator, kind: str, config_dir: Path, proc: subprocess.Popen[str], url: str,
                      hashes: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Add ``hashes`` with every add held at the provider, SIGKILL, restart at once; once the
    restarted gateway has added them again, let the held adds through (their answers go nowhere)."""
    before = answered_adds(emu, kind)
    rule = emu.world.add_fault({"path_regex": ADD_PATHS[kind], "method": "POST", "hold": True,
                                "times": len(hashes)})
    add(url, hashes)
    wait_until(lambda: emu.world.held() == len(hashes), 30, "every add held at the provider")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc, url = start(config_dir)
    wait_until(lambda: complete(url, hashes), 60, "the restarted gateway to add them again and finish")
    assert rule.hits == len(hashes)
    assert emu.world.release_holds() == len(hashes)
    wait_until(lambda: answered_adds(emu, kind) - before == 2 * len(hashes), 30, "the held adds to make their copies")
    return proc, url


def test_orphans_of_a_crash_are_deleted_and_each_hash_is_held_once(emu: Emulator, kind: str,
                                                                    tmp_path: Path) -> None:
    client = provider_client(emu, kind)
    hashes = [infohash(f"orphan-{kind}-{i}") for i in range(IN_FLIGHT)]
    for i, h in enumerate(hashes):
        emu.world.add_catalog(h, f"Orphan Film {i}", [{"path": f"orphan{i}.mkv", "size": 4000 + i}], cached=True,
                              provider=KEYS[kind])
    config_dir = tmp_path / "c"
    write_config(config_dir, emu, kind)
    proc, url = start(config_dir)
    try:
        proc, url = crash_during_adds(emu, kind, config_dir, proc, url, hashes)
        wait_until(lambda: set(held(client, hashes).values()) == {1} and len(held(client, hashes)) == len(hashes),
                   30, "each infohash held once at the provider")
        qbit = qbittorrentapi.Client(host=url, REQUESTS_ARGS={"timeout": 10})
        listed = Counter(t.hash for t in qbit.torrents_info())
        assert sorted(listed) == sorted(hashes) and set(listed.values()) == {1}
        assert complete(url, hashes)   # each import still follows a copy that exists
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_a_copy_the_user_added_at_the_provider_is_never_deleted(tmp_path: Path) -> None:
    kind = "realdebrid"
    with Emulator(rate_limit=False) as emu:
        emu.world.add_account(TOKEN)
        client = provider_client(emu, kind)
        clean, crashed = infohash("user-clean"), [infohash(f"user-crash-{i}") for i in range(2)]
        for i, h in enumerate([clean, *crashed]):
            emu.world.add_catalog(h, f"User Film {i}", [{"path": f"user{i}.mkv", "size": 3000 + i}], cached=True)
        config_dir = tmp_path / "c"
        write_config(config_dir, emu, kind)
        proc, url = start(config_dir)
        try:
            add(url, [clean])   # an import whose add was answered: no evidence of a lost one
            wait_until(lambda: complete(url, [clean]), 30, "the clean import")
            proc, url = crash_during_adds(emu, kind, config_dir, proc, url, crashed)
            wait_until(lambda: set(held(client, crashed).values()) == {1}, 30, "the crash's orphans deleted")
            # Now the user adds copies himself, outside the gateway: of the clean import's hash,
            # and of a crashed one whose orphan is already gone.
            mine = {client.add_magnet(f"magnet:?xt=urn:btih:{h}") for h in (clean, crashed[0])}
            total = len(client.list_torrents())
            wait_until(lambda: requests.get(url + "health", timeout=10).json()["providers"][kind]["listed"] == total,
                       30, "the gateway to list the user's copies")
            ids = {t.id for t in client.list_torrents()}
            assert mine <= ids
            assert held(client, [clean, *crashed]) == {clean: 2, crashed[0]: 2, crashed[1]: 1}
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
