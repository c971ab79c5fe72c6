"""Issue 11 hardening: failed logins throttled, CSRF on the UI session, an honest WebDAV OPTIONS.

Clients come from different loopback addresses (127.0.0.2, 127.0.0.3, ...) so the
per-IP bookkeeping is exercised over real HTTP; the gateway runs on a FakeClock,
so the delays move fake time (``clock.slept``) instead of holding the test.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from requests.adapters import HTTPAdapter

from gateway.app import Gateway
from gateway.auth import BAN_SECONDS, MAX_WAITERS, LoginThrottle
from tests.support import SAMPLE, FakeClock, start_gateway

USER, PASSWORD = "admin", "correct horse"
CSRF_ERROR = {"error": "missing or wrong CSRF token", "code": 403}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class _FromAddress(HTTPAdapter):
    """Connections made from one local address, so the gateway sees that REMOTE_ADDR."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


def client(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", _FromAddress(address))
    return session


@pytest.fixture()
def secured(emulator: Any, tmp_path: Any) -> Iterator[tuple[Gateway, FakeClock]]:
    clock = FakeClock()
    gw = start_gateway(emulator, str(tmp_path / "c"), clock=clock, use_auth=True, enable_webdav_auth=True)
    gw.auth.setup(USER, PASSWORD)
    try:
        yield gw, clock
    finally:
        gw.stop()


def url(gw: Gateway, path: str) -> str:
    return f"http://127.0.0.1:{gw.port}{path}"


# ------------------------------------------------------------------ throttle


def ui_login(gw: Gateway, who: requests.Session, password: str) -> requests.Response:
    return who.post(url(gw, "/login"), json={"username": USER, "password": password}, timeout=10)


def test_ui_login_slowed_then_refused_per_ip(secured: tuple[Gateway, FakeClock]) -> None:
    gw, clock = secured
    attacker, other = client("127.0.0.2"), client("127.0.0.3")
    for _ in range(5):
        assert ui_login(gw, attacker, "wrong password").status_code == 401
    assert clock.slept == []                      # the first five cost nothing
    for _ in range(5):
        assert ui_login(gw, attacker, "wrong password").status_code == 401
    assert clock.slept == [0.5, 1.0, 2.0, 4.0, 5.0]   # doubling, capped at 5 s
    refused = ui_login(gw, attacker, PASSWORD)      # the 11th: refused even with the right password
    assert refused.status_code == 429
    assert refused.json() == {"error": "too many failed logins; try again in 15 minutes", "code": 429}
    assert 0 < int(refused.headers["Retry-After"]) <= BAN_SECONDS
    assert "decypharr_session" not in refused.headers.get("Set-Cookie", "")
    assert ui_login(gw, other, PASSWORD).status_code == 200    # another IP is unaffected
    clock.advance(BAN_SECONDS - 60)
    assert ui_login(gw, attacker, PASSWORD).status_code == 429
    clock.advance(61)
    assert ui_login(gw, attacker, PASSWORD).status_code == 200


def test_a_success_resets_the_count(secured: tuple[Gateway, FakeClock]) -> None:
    gw, clock = secured
    who = client("127.0.0.4")
    for _ in range(9):
        assert ui_login(gw, who, "wrong password").status_code == 401
    assert ui_login(gw, who, PASSWORD).status_code == 200
    clock.slept.clear()
    for _ in range(9):
        assert ui_login(gw, who, "wrong password").status_code == 401
    assert clock.slept == [0.5, 1.0, 2.0, 4.0]        # counted again from zero
    assert ui_login(gw, who, PASSWORD).status_code == 200


def test_qbit_login_banned_ip_gets_forbidden(secured: tuple[Gateway, FakeClock]) -> None:
    gw, clock = secured
    attacker, other = client("127.0.0.5"), client("127.0.0.6")
    login = url(gw, "/api/v2/auth/login")
    for _ in range(10):
        answer = attacker.post(login, data={"username": USER, "password": "wrong password"}, timeout=10)
        assert answer.status_code == 200 and answer.text == "Fails."
    banned = attacker.post(login, data={"username": USER, "password": PASSWORD}, timeout=10)
    assert banned.status_code == 403 and banned.text == "Forbidden"   # as qBittorrent bans an IP
    assert other.post(login, data={"username": USER, "password": PASSWORD}, timeout=10).text == "Ok."
    clock.advance(BAN_SECONDS + 1)
    assert attacker.post(login, data={"username": USER, "password": PASSWORD}, timeout=10).text == "Ok."


def test_webdav_basic_auth_banned_ip_gets_429(secured: tuple[Gateway, FakeClock]) -> None:
    gw, clock = secured
    attacker, other = client("127.0.0.7"), client("127.0.0.8")
    dav = url(gw, "/webdav/")
    for _ in range(10):
        answer = attacker.request("PROPFIND", dav, headers={"Depth": "0"}, auth=(USER, "wrong password"), timeout=10)
        assert answer.status_code == 401
    banned = attacker.request("PROPFIND", dav, headers={"Depth": "0"}, auth=(USER, PASSWORD), timeout=10)
    assert banned.status_code == 429 and int(banned.headers["Retry-After"]) > 0
    assert other.request("PROPFIND", dav, headers={"Depth": "0"}, auth=(USER, PASSWORD), timeout=10).status_code == 207
    clock.advance(BAN_SECONDS + 1)
    assert attacker.request("PROPFIND", dav, headers={"Depth": "0"}, auth=(USER, PASSWORD),
                            timeout=10).status_code == 207


def test_sabnzbd_ma_password_is_throttled_too(secured: tuple[Gateway, FakeClock]) -> None:
    gw, _ = secured
    attacker, other = client("127.0.0.9"), client("127.0.0.10")
    api = url(gw, "/sabnzbd/api")

    def queue(who: requests.Session, password: str) -> dict[str, Any]:
        params = {"mode": "queue", "output": "json", "ma_username": USER, "ma_password": password}
        return dict(who.get(api, params=params, timeout=10).json())

    for _ in range(10):
        assert queue(attacker, "wrong password")["status"] is False
    assert queue(attacker, PASSWORD).get("status") is False      # banned: the right password does not help
    assert "queue" in queue(other, PASSWORD)


def test_throttle_is_bounded_and_keyed_per_ip_and_user() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock, max_sources=4)
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        throttle.failed(ip, "")
    throttle.failed("10.0.0.4", "someone")   # two keys: the IP and the username
    assert throttle.delay("10.0.0.1") == 0.0
    assert len(throttle._records) == 4 and ("ip", "10.0.0.1") not in throttle._records   # oldest dropped
    for _ in range(10):
        throttle.failed("10.0.0.9", "admin")
    assert throttle.refused("10.0.0.9", "admin") == BAN_SECONDS
    assert throttle.refused("10.0.0.10", "admin") == 0.0      # the username alone is not banned this soon
    assert throttle.delay("10.0.0.10", "admin") == 5.0        # but guessing it from elsewhere is slowed
    clock.advance(15 * 60 + 1)
    assert throttle.refused("10.0.0.9", "admin") == 0.0 and throttle.delay("10.0.0.9") == 0.0


def test_waiting_threads_are_bounded() -> None:
    entered, release = threading.Semaphore(0), threading.Event()

    class Blocking(FakeClock):
        def sleep(self, seconds: float) -> None:
            entered.release()
            release.wait(10)

    throttle = LoginThrottle(Blocking())
    for _ in range(6):
        throttle.failed("10.1.0.1")
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(throttle.wait("10.1.0.1")))
               for _ in range(MAX_WAITERS)]
    for t in threads:
        t.start()
    try:
        for _ in threads:
            assert entered.acquire(timeout=10)
        assert throttle.wait("10.1.0.1") is False     # one more would hold another server thread: refused
    finally:
        release.set()
        for t in threads:
            t.join(10)
    assert results == [True] * MAX_WAITERS


# ---------------------------------------------------------------------- CSRF


def logged_in(gw: Gateway) -> tuple[requests.Session, str]:
    session = requests.Session()
    answer = session.post(url(gw, "/login"), json={"username": USER, "password": PASSWORD}, timeout=10)
    assert answer.status_code == 200
    return session, str(answer.json()["csrf_token"])


def test_refresh_token_needs_the_csrf_header_with_a_session(secured: tuple[Gateway, FakeClock]) -> None:
    gw, _ = secured
    session, csrf = logged_in(gw)
    before = gw.auth.api_token()
    refused = session.post(url(gw, "/api/refresh-token"), timeout=10)
    assert refused.status_code == 403 and refused.json() == CSRF_ERROR
    wrong = session.post(url(gw, "/api/refresh-token"), headers={"X-CSRF-Token": "0" * 64}, timeout=10)
    assert wrong.status_code == 403 and wrong.json() == CSRF_ERROR
    assert gw.auth.api_token() == before                       # nothing changed
    done = session.post(url(gw, "/api/refresh-token"), headers={"X-CSRF-Token": csrf}, timeout=10)
    assert done.status_code == 200 and done.json()["api_token"] == gw.auth.api_token() != before
    bearer = requests.post(url(gw, "/api/refresh-token"),
                           headers={"Authorization": f"Bearer {gw.auth.api_token()}"}, timeout=10)
    assert bearer.status_code == 200                           # scripts with the token are unaffected
    assert session.get(url(gw, "/api/auth"), timeout=10).status_code == 200   # reads need no CSRF token


def test_pages_carry_the_token_and_logout_takes_the_form_field(secured: tuple[Gateway, FakeClock]) -> None:
    gw, _ = secured
    session, csrf = logged_in(gw)
    page = session.get(url(gw, "/settings"), headers={"Accept": "text/html"}, timeout=10)
    assert f'<meta name="csrf-token" content="{csrf}">' in page.text
    assert f'name="csrf_token" value="{csrf}"' in page.text    # the logout form, posted without JS
    assert session.post(url(gw, "/logout"), allow_redirects=False, timeout=10).status_code == 403
    assert session.get(url(gw, "/api/auth"), timeout=10).status_code == 200   # still logged in
    out = session.post(url(gw, "/logout"), data={"csrf_token": csrf}, allow_redirects=False, timeout=10)
    assert out.status_code == 302
    assert requests.get(url(gw, "/api/auth"), cookies={"decypharr_session": session.cookies.get(
        "decypharr_session") or "gone"}, timeout=10).status_code == 401


def _concrete(rule: str) -> str:
    return re.sub(r"<[^>]+>", "x", rule)


def test_every_state_changing_ui_route_refuses_a_session_without_the_token(
        secured: tuple[Gateway, FakeClock]) -> None:
    gw, _ = secured
    session, _ = logged_in(gw)
    before = gw.auth.api_token()
    routes = sorted({(r.method, r.rule) for r in gw.apps["/"].routes if r.method in UNSAFE})
    checked = []
    for method, rule in routes:
        if rule.startswith("/api/v2/") or rule == "/sabnzbd/api":   # the *arrs' own auth, no UI session
            continue
        if (method, rule) in {("POST", "/login"), ("POST", "/api/setup")}:   # no session yet: exempt
            continue
        answer = session.request(method, url(gw, _concrete(rule)), json={}, allow_redirects=False, timeout=10)
        assert answer.status_code == 403, (method, rule, answer.status_code)
        assert answer.json() == CSRF_ERROR, (method, rule)
        checked.append((method, rule))
    assert ("POST", "/api/refresh-token") in checked and ("POST", "/logout") in checked
    assert len(checked) >= 8
    assert gw.auth.api_token() == before and session.get(url(gw, "/api/auth"), timeout=10).ok


def test_arr_credentials_need_no_csrf_token(secured: tuple[Gateway, FakeClock]) -> None:
    gw, _ = secured
    token = gw.auth.api_token()
    sid = requests.Session()
    assert sid.post(url(gw, "/api/v2/auth/login"), data={"username": USER, "password": token}, timeout=10).text == "Ok."
    assert sid.post(url(gw, "/api/v2/torrents/pause"), data={"hashes": "all"}, timeout=10).status_code == 200
    sab = requests.post(url(gw, "/sabnzbd/api"), params={"mode": "queue", "output": "json", "apikey": token},
                        timeout=10)
    assert "queue" in sab.json()


# ------------------------------------------------------------------- OPTIONS


def _allow(answer: requests.Response) -> set[str]:
    return {m.strip() for m in answer.headers["Allow"].split(",")}


def test_webdav_options_advertises_only_what_it_serves(emulator: Any, tmp_path: Any) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"))
    try:
        reads = {"OPTIONS", "PROPFIND", "GET", "HEAD"}
        torrent = SAMPLE[3]["name"]
        for path in ("/webdav/", "/webdav/__all__/", "/webdav/__all__/Tiny%20Movie%202020/Tiny%20Movie%202020.mkv"):
            answer = requests.options(url(gw, path), timeout=10)
            assert answer.status_code == 200, path
            assert _allow(answer) == reads, (path, answer.headers["Allow"])
            assert answer.headers["DAV"] == "1"
        folder = requests.options(url(gw, f"/webdav/__all__/{torrent}/"), timeout=10)
        assert folder.status_code == 200 and _allow(folder) == reads | {"DELETE"}
        assert folder.headers["DAV"] == "1"
        encoded = requests.options(url(gw, "/webdav/__all__/" + quote(str(SAMPLE[1]["name"])) + "/"), timeout=10)
        assert encoded.status_code == 200 and "DELETE" in _allow(encoded)   # cheroot leaves OPTIONS paths encoded
        assert requests.options(url(gw, "/webdav/__all__/no such thing/"), timeout=10).status_code == 404
    finally:
        gw.stop()
