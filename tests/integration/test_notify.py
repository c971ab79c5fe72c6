"""Notifications: Discord webhook and generic callback, filtering, retries, never blocking."""

from __future__ import annotations

import time
from typing import Any

from gateway import notify
from gateway.config import NotificationsConfig
from gateway.imports.records import AddRequest
from gateway.notify import Notifier
from tests.support import SAMPLE, FakeClock, Receiver, start_gateway, wait_until

PAYLOAD = {"hash": "ab" * 20, "name": "The Show S01", "category": "sonarr", "kind": "torrent",
           "provider": "realdebrid", "state": "pausedUP", "error": "", "content_path": "/data/The Show S01",
           "size": 5_500_123}


def notifier(receiver: Receiver, clock: Any = None, **changes: Any) -> Notifier:
    config = NotificationsConfig(**{"enabled": True, "webhook_url": f"{receiver.url}/api/webhooks/1/WEBHOOKSECRET",
                                    "callback_url": f"{receiver.url}/callback", **changes})
    return Notifier(config, clock or FakeClock())


def test_both_targets_get_the_right_json(receiver) -> None:
    n = notifier(receiver)
    n.start()
    try:
        n.send("download_complete", PAYLOAD)
        n.send("repair_failed", {"id": "job-1", "status": "failed", "arrs": ["sonarr"], "counts": {"broken": 2},
                                 "broken_items": [{"title": "Ep 1"}], "error": "no arr answered"})
        wait_until(lambda: len(receiver.received) == 4, what="four deliveries")
    finally:
        n.stop()
    discord = receiver.bodies("/api/webhooks/1/WEBHOOKSECRET")
    callback = receiver.bodies("/callback")
    assert all(r["type"] == "application/json" for r in receiver.received)
    assert [d["username"] for d in discord] == ["decypharr", "decypharr"]
    done, failed = discord[0]["embeds"][0], discord[1]["embeds"][0]
    assert done["title"] == "Download complete" and done["description"] == "The Show S01"
    assert done["color"] == 0x2ECC71 and failed["color"] == 0xE74C3C
    assert {"name": "Category", "value": "sonarr", "inline": True} in done["fields"]
    assert any(f["name"] == "Size" and "MiB" in f["value"] for f in done["fields"])
    assert failed["title"] == "Repair failed" and any(f["value"] == "no arr answered" for f in failed["fields"])
    assert [c["event"] for c in callback] == ["download_complete", "repair_failed"]
    assert callback[0]["data"] == PAYLOAD
    assert callback[0]["time"].startswith("2023-11-14T") and callback[0]["time"].endswith("Z")


def test_events_filter_and_disabled(receiver) -> None:
    n = notifier(receiver, events=("repair_failed",), webhook_url="")
    n.start()
    try:
        n.send("download_complete", PAYLOAD)
        n.send("repair_complete", {"id": "j"})
        n.send("repair_failed", {"id": "j"})
        wait_until(lambda: receiver.bodies("/callback"), what="the repair_failed callback")
        n.send("download_failed", PAYLOAD)
    finally:
        n.stop()
    assert [c["event"] for c in receiver.bodies("/callback")] == ["repair_failed"]

    off = notifier(receiver, enabled=False)
    off.start()
    off.send("download_complete", PAYLOAD)
    off.stop()
    assert len(receiver.received) == 1


def test_retries_then_success(receiver) -> None:
    clock = FakeClock()
    receiver.plan = [(500, {}), (502, {})]
    n = notifier(receiver, clock, webhook_url="")
    n.start()
    try:
        n.send("download_complete", PAYLOAD)
        wait_until(lambda: n.delivered == 1, what="the third attempt")
    finally:
        n.stop()
    assert len(receiver.bodies("/callback")) == 3 and clock.slept == [1.0, 2.0]


def test_client_errors_are_final_and_429_honours_retry_after(receiver) -> None:
    clock = FakeClock()
    receiver.plan = [(404, {}), (429, {"Retry-After": "7"})]
    n = notifier(receiver, clock, webhook_url="")
    n.start()
    try:
        n.send("download_failed", PAYLOAD)    # 404: given up at once
        wait_until(lambda: n.failed == 1, what="the 404")
        n.send("download_failed", PAYLOAD)    # 429, then 204 after Retry-After
        wait_until(lambda: n.delivered == 1, what="the retried 429")
    finally:
        n.stop()
    assert len(receiver.bodies("/callback")) == 3 and clock.slept == [7.0]


def test_a_hanging_receiver_never_blocks_send(receiver, monkeypatch) -> None:
    monkeypatch.setattr(notify, "DRAIN_SECONDS", 0.3)
    receiver.hang.clear()
    n = notifier(receiver)
    n.start()
    try:
        n.send("download_complete", PAYLOAD)
        wait_until(lambda: receiver.received, what="the first request to hang")
        for _ in range(20):
            started = time.perf_counter()
            n.send("download_complete", PAYLOAD)
            assert time.perf_counter() - started < 0.05
    finally:
        started = time.perf_counter()
        n.stop()
        assert time.perf_counter() - started < 2.0   # gives up on the hanging receiver
        receiver.hang.set()


def test_queue_is_bounded(receiver, caplog) -> None:
    n = notifier(receiver)   # not started: nothing drains
    for i in range(notify.MAX_QUEUE + 5):
        n.send("download_complete", {"i": i})
    assert n.dropped == 5 and len(n._queue) == notify.MAX_QUEUE and n._queue[0].payload == {"i": 5}
    assert "dropped the oldest" in caplog.text


def test_webhook_url_never_logged(receiver, caplog) -> None:
    caplog.set_level("DEBUG", logger="gateway.notify")
    receiver.plan = [(500, {}), (500, {}), (500, {})]
    n = notifier(receiver, callback_url="")
    n.start()
    try:
        n.send("download_complete", PAYLOAD)
        wait_until(lambda: n.failed == 1, what="three failures")
    finally:
        n.stop()
    assert "failed after 3 attempt(s)" in caplog.text and "WEBHOOKSECRET" not in caplog.text


def test_an_import_through_the_gateway_notifies(emulator, tmp_path, receiver) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), default_download_action="none",
                       notifications={"enabled": True, "callback_url": f"{receiver.url}/hook",
                                      "events": ["download_complete"]})
    gw.notifier.start()
    gw.imports.start()
    try:
        entry = SAMPLE[1]
        gw.imports.add(AddRequest(magnet=f"magnet:?xt=urn:btih:{entry['hash']}&dn=Amelie", category="radarr"))

        def notified():
            emulator.world.clock.advance(1.0)
            return receiver.bodies("/hook")
        bodies = wait_until(notified, 30, "the download_complete callback")
    finally:
        gw.stop()
    assert bodies[0]["event"] == "download_complete"
    assert bodies[0]["data"]["hash"] == entry["hash"] and bodies[0]["data"]["category"] == "radarr"
