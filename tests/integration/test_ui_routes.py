"""The web UI over plain HTTP: redirects, pages, assets under url_base, and the UI's new routes."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.support import TOKEN, infohash, start_gateway

HTML = {"Accept": "text/html,application/xhtml+xml"}
PAGES = ("/dashboard", "/add", "/browse", "/repair", "/settings", "/stats", "/logs", "/setup")
PASSWORD = "correct horse"
XSS_NAME = "<script>alert(1)</script>.mkv"
STATIC = Path(__file__).resolve().parents[2] / "api" / "static"


def base(gw, prefix: str = "") -> str:
    return f"http://127.0.0.1:{gw.port}{prefix}"


@pytest.fixture()
def secured(emulator, tmp_path):
    gw = start_gateway(emulator, str(tmp_path / "c"), use_auth=True)
    try:
        yield gw
    finally:
        gw.stop()


def logged_in(b: str) -> requests.Session:
    session = requests.Session()
    assert requests.post(f"{b}/api/setup", json={"username": "admin", "password": PASSWORD}, timeout=10).ok
    login = session.post(f"{b}/login", json={"username": "admin", "password": PASSWORD}, timeout=10)
    assert login.ok
    session.headers["X-CSRF-Token"] = login.json()["csrf_token"]   # what app.js sends on every non-GET
    return session


def local_refs(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/[^"]*)"', html)


def test_root_redirects(secured) -> None:
    b = base(secured)
    first = requests.get(f"{b}/", allow_redirects=False, timeout=10)
    assert first.status_code == 302 and first.headers["Location"] == "/setup"
    assert requests.get(f"{b}/setup", headers=HTML, timeout=10).status_code == 200
    session = logged_in(b)
    with_session = session.get(f"{b}/", allow_redirects=False, timeout=10)
    assert with_session.status_code == 302 and with_session.headers["Location"] == "/dashboard"
    anonymous = requests.get(f"{b}/", headers=HTML, timeout=10)   # / → login, the page itself
    assert anonymous.status_code == 200 and anonymous.url.startswith(f"{b}/login")
    assert 'id="login-form"' in anonymous.text
    page = requests.get(f"{b}/settings?x=1", headers=HTML, allow_redirects=False, timeout=10)
    assert page.status_code == 302 and page.headers["Location"] == "/login?next=" + quote("/settings?x=1", safe="/")
    # a client that does not ask for HTML keeps the JSON 401 (scripts, the *arrs)
    plain = requests.get(f"{b}/settings", headers={"Accept": "application/json"}, allow_redirects=False, timeout=10)
    assert plain.status_code == 401 and plain.json()["code"] == 401
    assert requests.head(f"{b}/static/app.js", timeout=10).status_code == 200
    setup_again = requests.get(f"{b}/setup", headers=HTML, allow_redirects=False, timeout=10)
    assert setup_again.status_code == 302 and setup_again.headers["Location"].startswith("/login")
    # the JSON API still answers JSON 401, pages or not
    api = requests.get(f"{b}/api/torrents", headers=HTML, allow_redirects=False, timeout=10)
    assert api.status_code == 401 and api.json()["code"] == 401


def test_every_page_is_html_with_local_assets(secured) -> None:
    b = base(secured)
    session = logged_in(b)
    for page in PAGES:
        answer = session.get(f"{b}{page}", headers=HTML, allow_redirects=False, timeout=10)
        assert answer.status_code == 200, page
        assert answer.headers["Content-Type"].startswith("text/html")
        assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
        assert "http://" not in answer.text and "https://" not in answer.text and "//cdn" not in answer.text
        refs = local_refs(answer.text)
        assert any(r.endswith(".css") for r in refs) and any(r.endswith(".js") for r in refs)
        for ref in refs:
            assert session.get(f"{b}{ref}", timeout=10).status_code == 200, (page, ref)
    # the login page's assets are public: a browser without a session loads them too
    login = requests.get(f"{b}/login", headers=HTML, timeout=10)
    for ref in local_refs(login.text):
        if "/static/" in ref:
            assert requests.get(f"{b}{ref}", timeout=10).status_code == 200
    assert session.get(f"{b}/static/%2e%2e/ui.py", timeout=10).status_code in (403, 404)


def test_pages_under_url_base(emulator, tmp_path) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), url_base="/decypharr")
    try:
        b = base(gw, "/decypharr")
        first = requests.get(f"{b}/", allow_redirects=False, timeout=10)
        assert first.status_code == 302 and first.headers["Location"] == "/decypharr/setup"
        for page in PAGES:
            answer = requests.get(f"{b}{page}", headers=HTML, timeout=10)
            assert answer.status_code == 200, page
            refs = local_refs(answer.text)
            assert refs and all(r.startswith("/decypharr/") for r in refs), refs
            for ref in refs:
                assert requests.get(f"http://127.0.0.1:{gw.port}{ref}", timeout=10).status_code == 200, ref
        assert 'data-prefix="/decypharr"' in requests.get(f"{b}/dashboard", timeout=10).text
    finally:
        gw.stop()


def test_login_json_for_clients_html_for_browsers(secured) -> None:
    b = base(secured)
    assert requests.get(f"{b}/login", timeout=10).json() == {"needs_setup": True, "use_auth": True}
    logged_in(b)
    assert requests.get(f"{b}/login", headers={"Accept": "application/json"}, timeout=10).json() == \
        {"needs_setup": False, "use_auth": True}
    page = requests.get(f"{b}/login?next=/stats", headers=HTML, timeout=10)
    assert page.headers["Content-Type"].startswith("text/html") and 'data-next="/stats"' in page.text
    hostile = requests.get(f"{b}/login?next=//evil.example/x", headers=HTML, timeout=10)
    assert "evil.example" not in hostile.text


def test_logout_drops_the_session(secured) -> None:
    b = base(secured)
    session = logged_in(b)
    cookie = session.cookies.get("decypharr_session")
    assert session.get(f"{b}/api/auth", timeout=10).ok
    forged = requests.post(f"{b}/logout", cookies={"decypharr_session": cookie}, allow_redirects=False, timeout=10)
    assert forged.status_code == 403   # a cross-site form without the CSRF token ends nothing
    assert session.get(f"{b}/api/auth", timeout=10).ok
    out = session.post(f"{b}/logout", allow_redirects=False, timeout=10)
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert "decypharr_session=" in out.headers["Set-Cookie"]
    stale = requests.get(f"{b}/api/auth", cookies={"decypharr_session": cookie}, timeout=10)
    assert stale.status_code == 401   # the session itself is gone, not just the cookie


def test_password_change(secured) -> None:
    b = base(secured)
    session = logged_in(b)
    url = f"{b}/api/auth/password"
    assert requests.post(url, json={"current_password": PASSWORD, "new_password": "brand new pw"},
                         timeout=10).status_code == 401   # no session, no token
    wrong = session.post(url, json={"current_password": "nope", "new_password": "brand new pw"}, timeout=10)
    assert wrong.status_code == 401 and wrong.json()["code"] == 401
    short = session.post(url, json={"current_password": PASSWORD, "new_password": "short"}, timeout=10)
    assert short.status_code == 400 and "password" in short.json()["error"]
    done = session.post(url, json={"current_password": PASSWORD, "new_password": "brand new pw"}, timeout=10)
    assert done.status_code == 200 and done.json() == {"ok": True}
    assert requests.post(f"{b}/login", json={"username": "admin", "password": "brand new pw"}, timeout=10).ok
    assert requests.post(f"{b}/login", json={"username": "admin", "password": PASSWORD},
                         timeout=10).status_code == 401


def test_debrid_check(secured, emulator) -> None:
    b = base(secured)
    url = f"{b}/api/setup/debrid-check"
    good = {"provider": "realdebrid", "api_key": TOKEN, "api_url": emulator.rd_api_url}
    answer = requests.post(url, json=good, timeout=20).json()   # public while no user exists
    assert answer["ok"] is True and answer["username"] and "premium" in answer
    bad = requests.post(url, json={**good, "api_key": "not-a-key"}, timeout=20).json()
    assert bad["ok"] is False and bad["error"]
    session = logged_in(b)
    assert requests.post(url, json=good, timeout=20).status_code == 401   # installed: a session is needed
    assert session.post(url, json=good, timeout=20).json()["ok"] is True
    assert session.post(url, json={"provider": "nope", "api_key": "x"}, timeout=20).json()["ok"] is False


def test_hostile_torrent_name_is_never_markup(emulator, tmp_path) -> None:
    emulator.world.seed_library(TOKEN, [{"hash": infohash("xss"), "name": XSS_NAME,
                                         "files": [{"path": XSS_NAME, "size": 1000}],
                                         "added": "2024-03-02T10:00:00.000Z"}])
    gw = start_gateway(emulator, str(tmp_path / "c"))
    try:
        b = base(gw)
        names = [t["name"] for t in requests.get(f"{b}/api/browse/__all__", timeout=10).json()["torrents"]]
        hostile = next(n for n in names if "<script>" in n)
        page = requests.get(f"{b}/browse", params={"group": "__all__", "torrent": hostile}, headers=HTML, timeout=10)
        assert page.status_code == 200
        assert "alert(1)" not in page.text     # nothing from the query or the library is echoed as markup
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        # the scripts put data in the page as text only
        for script in STATIC.glob("*.js"):
            source = script.read_text()
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
                assert sink not in source, (script.name, sink)
    finally:
        gw.stop()
