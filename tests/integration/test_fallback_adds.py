"""Ordered fallback for adds: the next account gets what one account turns down, and the
import record shows every attempt with its reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emulators.server import KEYS, Emulator
from gateway.app import Gateway
from gateway.imports.records import AddRequest, ImportRecord
from tests.support import TOKEN, infohash, start_gateway, wait_until

FILES = [{"path": "Film (2020).mkv", "size": 3_000_000}]


def _account(emulator: Emulator, kind: str, **extra: Any) -> dict[str, Any]:
    token = f"{kind}-key"
    if token not in emulator.world.accounts:
        emulator.world.add_account(token, provider=KEYS[kind])
    return {"name": kind, "provider": kind, "api_key": token, "api_url": emulator.api_url(kind),
            "rate_limit": "off", "torrents_refresh_interval": "1h", **extra}


@pytest.fixture()
def gateway_of(emulator: Emulator, tmp_path: Any) -> Iterator[Any]:
    started: list[Gateway] = []

    def make(*debrids: dict[str, Any]) -> Gateway:
        rd = {"name": "realdebrid", "provider": "realdebrid", "api_key": TOKEN, "api_url": emulator.rd_api_url,
              "rate_limit": "off", "torrents_refresh_interval": "1h"}
        gateway = start_gateway(emulator, str(tmp_path / f"c{len(started)}"), default_download_action="none",
                                refresh_interval="200ms", debrids=[rd, *debrids])
        gateway.imports.start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


def _finished(gateway: Gateway, h: str) -> ImportRecord:
    return wait_until(lambda: (r := gateway.imports.get(h)) is not None and r.state.finished and r, 30,
                      "the import to finish")


def _adds(emulator: Emulator, prefix: str) -> int:
    return sum(1 for e in emulator.world.log(path_prefix=prefix) if e["method"] in ("POST", "PUT")
               and any(word in e["path"] for word in ("add", "create", "upload")))


@pytest.mark.parametrize("kind", ["torbox", "premiumize"])
def test_a_451_at_real_debrid_goes_to_the_next_account(gateway_of: Any, emulator: Emulator, kind: str) -> None:
    h = infohash("filtered")
    emulator.world.add_catalog(h, "Filtered Film", FILES, flags=["infringing"])
    emulator.world.set_knobs(content_filters=["rd"])   # a filter of Real-Debrid's own
    emulator.world.set_cached([h], provider=KEYS[kind])
    gateway = gateway_of(_account(emulator, kind))
    record = gateway.imports.add(AddRequest(magnet=f"magnet:?xt=urn:btih:{h}&dn=Filtered", category="radarr"))
    done = _finished(gateway, record.hash)
    assert done.state.value == "pausedUP" and done.provider == kind, done.error
    assert done.provider_attempts == (("realdebrid", "refused: infringing_file"), (kind, "added"))
    assert emulator.world.count_status(451) == 1


def test_not_cached_at_the_first_is_added_where_it_is_cached(gateway_of: Any, emulator: Emulator) -> None:
    h = infohash("cached-elsewhere")
    emulator.world.add_catalog(h, "Elsewhere", FILES)
    emulator.world.set_cached([h], provider="pm")
    gateway = gateway_of(_account(emulator, "premiumize"))
    record = gateway.imports.add(AddRequest(magnet=f"magnet:?xt=urn:btih:{h}", category="radarr"))
    done = _finished(gateway, record.hash)
    assert done.provider == "premiumize" and done.state.value == "pausedUP"
    assert [a[0] for a in done.provider_attempts] == ["realdebrid", "premiumize"]
    assert done.provider_attempts[0][1].startswith("not cached")
    assert all(t.hash != h for t in emulator.world.by_token[TOKEN].values())   # the probe was deleted


def test_priority_decides_who_is_asked_first(gateway_of: Any, emulator: Emulator) -> None:
    h = infohash("prioritised")
    emulator.world.add_catalog(h, "Prioritised", FILES, cached=True)
    emulator.world.set_cached([h], provider="pm")
    gateway = gateway_of(_account(emulator, "premiumize", priority=0))
    record = gateway.imports.add(AddRequest(magnet=f"magnet:?xt=urn:btih:{h}"))
    assert _finished(gateway, record.hash).provider_attempts == (("premiumize", "added"),)
    assert _adds(emulator, "/rest/1.0") == 0


def test_a_virus_is_not_offered_to_the_next_account(gateway_of: Any, emulator: Emulator) -> None:
    h = infohash("virus")
    emulator.world.add_catalog(h, "Bad Film", FILES, flags=["virus"], cached=True)
    emulator.world.set_cached([h], provider="pm")
    gateway = gateway_of(_account(emulator, "premiumize"))
    record = gateway.imports.add(AddRequest(magnet=f"magnet:?xt=urn:btih:{h}"))
    done = _finished(gateway, record.hash)
    assert done.state.value == "error" and "virus" in done.error
    assert [a[0] for a in done.provider_attempts] == ["realdebrid"]
    assert _adds(emulator, "/api/transfer") == 0


def test_no_account_takes_it_lists_every_reason(gateway_of: Any, emulator: Emulator) -> None:
    h = infohash("nowhere")
    emulator.world.add_catalog(h, "Nowhere", FILES)
    gateway = gateway_of(_account(emulator, "premiumize"))
    record = gateway.imports.add(AddRequest(magnet=f"magnet:?xt=urn:btih:{h}"))
    done = _finished(gateway, record.hash)
    assert done.state.value == "error"
    assert "realdebrid: not cached" in done.error and "premiumize: not cached" in done.error


def test_no_free_slot_at_real_debrid_moves_an_uncached_add_on(gateway_of: Any, emulator: Emulator) -> None:
    h = infohash("busy")
    emulator.world.add_catalog(h, "Busy Film", FILES)                # uncached everywhere
    emulator.world.accounts[TOKEN].slots_limit = 0                   # RD answers 509 at selectFiles
    gateway = gateway_of(_account(emulator, "premiumize", download_uncached=True),)
    record = gateway.imports.add(AddRequest(magnet=f"magnet:?xt=urn:btih:{h}", download_uncached=True))
    moved = wait_until(lambda: (r := gateway.imports.get(record.hash)) and r.provider == "premiumize" and r, 30,
                       "the add to move to Premiumize")
    assert moved.provider_attempts[0][0] == "realdebrid"
    assert moved.provider_attempts[0][1].startswith("too many active downloads")
    assert all(t.hash != h for t in emulator.world.by_token[TOKEN].values())   # withdrawn from RD
