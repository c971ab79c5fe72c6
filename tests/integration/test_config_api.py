"""Settings that apply at once (log_level, notifications) and the ones that wait for a restart."""

from __future__ import annotations

import logging

import requests

from gateway.app import Gateway


def test_log_level_applies_at_once_and_other_keys_say_they_need_a_restart(gateway: Gateway) -> None:
    base = f"http://127.0.0.1:{gateway.port}/api/config"
    before = logging.getLogger().level
    try:
        answer = requests.post(base, json={"log_level": "debug"}, timeout=10)
        assert answer.status_code == 200 and answer.headers["X-Restart-Needed"] == ""
        assert logging.getLogger().level == logging.DEBUG
        answer = requests.post(base, json={"refresh_interval": "20s", "log_level": "warning"}, timeout=10)
        assert answer.headers["X-Restart-Needed"] == "refresh_interval"
        assert logging.getLogger().level == logging.WARNING
        bad = requests.post(base, json={"log_level": "loud"}, timeout=10)
        assert bad.status_code == 400 and "log_level" in bad.json()["error"]
        assert logging.getLogger().level == logging.WARNING          # a refused value changes nothing
    finally:
        logging.getLogger().setLevel(before)


def test_notifications_apply_at_once(gateway: Gateway) -> None:
    base = f"http://127.0.0.1:{gateway.port}/api/config"
    gateway.notifier.start()
    assert not gateway.notifier.active
    answer = requests.post(base, json={"notifications": {"enabled": True, "callback_url": "http://127.0.0.1:9/hook"}},
                           timeout=10)
    assert answer.status_code == 200 and answer.headers["X-Restart-Needed"] == ""
    assert gateway.notifier.active       # no restart needed: the next event is delivered
