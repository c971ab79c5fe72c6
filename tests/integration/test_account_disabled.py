"""A refused key (issue 15, item 1): the account is disabled, says so everywhere, once, and
comes back by itself: after a probe, or at once when the key is changed in the settings."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import qbittorrentapi
import requests

from emulators.server import KEYS, Emulator
from gateway.app import Gateway
from gateway.imports.records import AddRequest, ImportState
from tests.support import SAMPLE, TOKEN, Receiver, VirtualClock, start_gateway, wait_until

NEW_KEY = "the-new-key"


def _rd(emulator: Emulator, key: str = TOKEN) -> dict[str, Any]:
    return {"name": "realdebrid", "provider": "realdebrid", "api_key": key, "api_url": emulator.rd_api_url,
            "rate_limit": "off", "torrents_refresh_interval": "2s"}


def _steps(gateway: Gateway, clock: VirtualClock, seconds: float, name: str = "realdebrid") -> None:
    """Run the account's sync as its worker would, every 2 virtual seconds."""
    for _ in range(int(seconds // 2)):
        gateway.library.syncs[name].step()
        clock.advance(2.0)


def _get(gateway: Gateway, path: str) -> requests.Response:
    response = requests.get(f"http://127.0.0.1:{gateway.port}{path}", timeout=10)
    assert response.status_code == 200, response.text[:300]
    return response


def test_a_refused_key_is_shown_notified_logged_once_and_a_new_key_is_probed_at_once(
        emulator: Emulator, tmp_path: Any, receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = VirtualClock(emulator.world.clock)
    gateway = start_gateway(emulator, str(tmp_path / "c"), clock=clock, debrids=[_rd(emulator)],
                            notifications={"enabled": True, "callback_url": f"{receiver.url}/hook",
                                           "events": ["account_error", "account_ok"]})
    gateway.notifier.start()
    try:
        emulator.world.revoke(TOKEN)
        _steps(gateway, clock, 600)   # ten virtual minutes of a 2 s refresh interval
        disabled = [r for r in caplog.records if "account disabled" in r.getMessage()]
        assert len(disabled) == 1 and disabled[0].levelno == logging.WARNING
        assert not [r for r in caplog.records if "listing failed" in r.getMessage()]

        health = _get(gateway, "/health").json()
        account = health["accounts"]["realdebrid"]
        assert account["state"] == "disabled" and account["reason"] == "key refused"
        assert account["since"] > 0 and "bad_token" in account["detail"]
        assert "account disabled" in health["providers"]["realdebrid"]["error"]
        assert _get(gateway, "/api/stats").json()["accounts"]["realdebrid"]["state"] == "disabled"
        metrics = _get(gateway, "/metrics").text
        assert 'decypharr_account_disabled{account="realdebrid",reason="key refused"} 1.0' in metrics

        event = wait_until(lambda: receiver.bodies("/hook"), 10, "the account_error callback")[0]
        assert event["event"] == "account_error"
        assert event["data"]["account"] == "realdebrid" and event["data"]["reason"] == "key refused"

        # A new key in the settings: used at once, probed at once (no five-minute wait), enabled.
        emulator.world.add_account(NEW_KEY)
        emulator.world.seed_library(NEW_KEY, SAMPLE[:1])
        posted = requests.post(f"http://127.0.0.1:{gateway.port}/api/config",
                               json={"debrids": [_rd(emulator, NEW_KEY)]}, timeout=10)
        assert posted.status_code == 200, posted.text
        gateway.library.syncs["realdebrid"].step()   # the worker is woken at once; no time passes
        assert _get(gateway, "/health").json()["accounts"]["realdebrid"]["state"] == "ok"
        assert [e["token"] for e in emulator.world.log()][-1] == NEW_KEY
        assert {t.infohash for t in gateway.library.snapshot().torrents.values()} == {SAMPLE[0]["hash"]}
        back = wait_until(lambda: receiver.bodies("/hook")[1:], 10, "the account_ok callback")[0]
        assert back["event"] == "account_ok"
        assert len([r for r in caplog.records if "enabled again" in r.getMessage()]) == 1
        assert 'decypharr_account_disabled{account="realdebrid",reason=""} 0.0' in _get(gateway, "/metrics").text
    finally:
        gateway.stop()


def test_an_import_waits_for_its_only_account_with_the_reason_and_resumes(emulator: Emulator,
                                                                          tmp_path: Any) -> None:
    clock = VirtualClock(emulator.world.clock)
    gateway = start_gateway(emulator, str(tmp_path / "c"), clock=clock, debrids=[_rd(emulator)],
                            default_download_action="none")
    gateway.imports.start()
    try:
        entry = SAMPLE[1]
        emulator.world.revoke(TOKEN)
        gateway.imports.add(AddRequest(magnet=f"magnet:?xt=urn:btih:{entry['hash']}&dn=x", category="radarr"))

        def listed() -> dict[str, Any]:
            return next(t for t in _get(gateway, "/api/torrents").json() if t["hash"] == entry["hash"])
        waiting = wait_until(lambda: "account disabled: key refused" in listed()["error"] and listed(), 10,
                             "the reason on the record")
        assert waiting["state"] != ImportState.ERROR.value
        qbit = qbittorrentapi.Client(host=f"http://127.0.0.1:{gateway.port}", username="u", password="p",
                                     REQUESTS_ARGS={"timeout": 10})
        assert "account disabled: key refused" in qbit.torrents_properties(entry["hash"]).comment
        adds = emulator.world.log_count("/rest/1.0/torrents/addMagnet")
        _steps(gateway, clock, 120)   # retries while disabled ask nothing of the account
        assert emulator.world.log_count("/rest/1.0/torrents/addMagnet") == adds
        assert "account disabled" in listed()["error"]

        emulator.world.revoke(TOKEN, False)
        _steps(gateway, clock, 300)   # the next probe passes

        def done() -> bool:
            clock.advance(5.0)
            record = gateway.imports.get(entry["hash"])
            return record is not None and record.state == ImportState.COMPLETE
        wait_until(done, 30, "the import to resume and finish")
        assert listed()["error"] == ""
    finally:
        gateway.stop()


def test_an_import_offered_to_a_disabled_account_goes_to_the_next(emulator: Emulator, tmp_path: Any) -> None:
    emulator.world.add_account("tb-key", provider=KEYS["torbox"])
    tb = {"name": "torbox", "provider": "torbox", "api_key": "tb-key", "api_url": emulator.api_url("torbox"),
          "rate_limit": "off", "torrents_refresh_interval": "1h"}
    gateway = start_gateway(emulator, str(tmp_path / "c"), debrids=[_rd(emulator), tb],
                            default_download_action="none")
    try:
        emulator.world.revoke(TOKEN)
        gateway.library.syncs["realdebrid"].sync_all()
        assert gateway.providers["realdebrid"].health.disabled
        h = SAMPLE[2]["hash"]
        emulator.world.set_cached([h], provider=KEYS["torbox"])
        mark = emulator.world.log_mark()
        gateway.imports.start()
        gateway.imports.add(AddRequest(magnet=f"magnet:?xt=urn:btih:{h}&dn=x", category="radarr"))
        record = wait_until(lambda: (r := gateway.imports.get(h)) is not None and r.state.finished and r, 30,
                            "the import to finish")
        assert record.state == ImportState.COMPLETE and record.provider == "torbox"
        assert ("realdebrid", "account disabled: key refused") in record.provider_attempts
        assert not [e for e in emulator.world.log(since=mark) if e["token"] == TOKEN]
    finally:
        gateway.stop()
