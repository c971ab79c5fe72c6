"""Auth (setup, login, tokens) and the config endpoints, with use_auth on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tests.integration.test_tree import base
from tests.support import start_gateway


@pytest.fixture()
def secured(emulator, tmp_path):
    gw = start_gateway(emulator, str(tmp_path / "c"), use_auth=True)
    try:
        yield gw
    finally:
        gw.stop()


def setup_user(gw) -> str:
    response = requests.post(f"{base(gw)}/api/setup", json={"username": "admin", "password": "correct horse"},
                             timeout=10)
    assert response.status_code == 200
    return str(response.json()["api_token"])


def test_first_run_setup_then_409(secured) -> None:
    b = base(secured)
    assert requests.get(f"{b}/api/setup", timeout=10).json() == {"needs_setup": True}
    assert requests.post(f"{b}/api/setup", json={"username": "a", "password": "short"}, timeout=10).status_code == 400
    token = setup_user(secured)
    again = requests.post(f"{b}/api/setup", json={"username": "evil", "password": "takeover123"}, timeout=10)
    assert again.status_code == 409 and again.json()["code"] == 409
    assert requests.get(f"{b}/api/torrents", headers={"Authorization": f"Bearer {token}"}, timeout=10).ok


def test_bearer_and_wrong_tokens(secured) -> None:
    b = base(secured)
    token = setup_user(secured)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"},
                    {"Authorization": f"Bearer {token}x"}):
        response = requests.get(f"{b}/api/torrents", headers=headers, timeout=10)
        assert response.status_code == 401 and response.json()["code"] == 401
        assert token not in response.text
    assert requests.get(f"{b}/api/browse/", timeout=10).status_code == 401
    assert requests.request("PROPFIND", f"{b}/webdav/", headers={"Depth": "0"}, timeout=10).status_code == 207
    assert requests.get(f"{b}/version", timeout=10).ok and requests.get(f"{b}/health", timeout=10).ok


def test_login_session_cookie_and_api_auth(secured) -> None:
    b = base(secured)
    token = setup_user(secured)
    session = requests.Session()
    assert session.post(f"{b}/login", data={"username": "admin", "password": "nope"}, timeout=10).status_code == 401
    login = session.post(f"{b}/login", data={"username": "admin", "password": "correct horse"}, timeout=10)
    assert login.status_code == 200
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert session.get(f"{b}/api/auth", timeout=10).json() == {"username": "admin", "api_token": token}


def test_refresh_token_kills_the_old_one(secured) -> None:
    b = base(secured)
    old = setup_user(secured)
    new = requests.post(f"{b}/api/refresh-token", headers={"Authorization": f"Bearer {old}"}, timeout=10).json()
    assert set(new) == {"api_token"} and new["api_token"] != old
    assert requests.get(f"{b}/api/torrents", headers={"Authorization": f"Bearer {old}"}, timeout=10).status_code == 401
    assert requests.get(f"{b}/api/torrents", headers={"Authorization": f"Bearer {new['api_token']}"},
                        timeout=10).status_code == 200


def test_config_get_masks_and_post_validates(secured) -> None:
    b = base(secured)
    headers = {"Authorization": f"Bearer {setup_user(secured)}"}
    config_file = Path(secured.config.config_dir) / "config.json"
    with open(config_file, "w") as handle:
        json.dump({"port": 8282, "debrids": [{"name": "realdebrid", "api_key": "SECRETKEY9876"}]}, handle)
    shown = requests.get(f"{b}/api/config", headers=headers, timeout=10).json()
    assert shown["debrids"][0]["api_key"] == "****9876"
    before = config_file.read_text()
    bad = requests.post(f"{b}/api/config", data=b"{nope", headers={**headers, "Content-Type": "application/json"},
                        timeout=10)
    assert bad.status_code == 400 and config_file.read_text() == before
    invalid = requests.post(f"{b}/api/config", json={"port": "http"}, headers=headers, timeout=10)
    assert invalid.status_code == 400 and "port" in invalid.json()["error"] and config_file.read_text() == before
    shown["log_level"] = "debug"
    ok = requests.post(f"{b}/api/config", json=shown, headers=headers, timeout=10)
    assert ok.status_code == 200 and ok.json()["log_level"] == "debug"
    stored = json.loads(config_file.read_text())
    assert stored["debrids"][0]["api_key"] == "SECRETKEY9876" and stored["log_level"] == "debug"


def test_huge_upload_is_413(secured) -> None:
    headers = {"Authorization": f"Bearer {setup_user(secured)}"}
    response = requests.post(f"{base(secured)}/api/add", headers=headers, timeout=30,
                             files={"file": ("big.torrent", b"0" * (33 << 20))})
    assert response.status_code == 413


def test_arrs_listing_masks_tokens(emulator, tmp_path) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), use_auth=False,
                       arrs=[{"name": "sonarr", "host": "http://127.0.0.1:8989", "token": "ARRKEY123456"}])
    try:
        arrs = requests.get(f"{base(gw)}/api/arrs", timeout=10).json()
        assert arrs == [{"name": "sonarr", "host": "http://127.0.0.1:8989", "type": "sonarr", "source": "config",
                         "token": "****3456"}]
    finally:
        gw.stop()


def test_webdav_delete_needs_credentials_when_auth_is_on(secured) -> None:
    setup_user(secured)
    b = base(secured)
    name = secured.vfs.listdir("/__all__")[0].name
    from urllib.parse import quote
    url = f"{b}/webdav/__all__/{quote(name)}"
    assert requests.delete(url, timeout=10).status_code == 401
    assert requests.delete(url, auth=("admin", "wrong password"), timeout=10).status_code == 401
    assert requests.get(f"{b}/webdav/__all__/", timeout=10).status_code != 401   # reads stay open
    assert requests.delete(url, auth=("admin", "correct horse"), timeout=10).status_code == 204


def test_enable_webdav_auth_guards_reads(emulator, tmp_path) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), use_auth=True, enable_webdav_auth=True)
    try:
        setup_user(gw)
        url = f"{base(gw)}/webdav/"
        assert requests.request("PROPFIND", url, headers={"Depth": "1"}, timeout=10).status_code == 401
        ok = requests.request("PROPFIND", url, headers={"Depth": "1"}, auth=("admin", "correct horse"), timeout=10)
        assert ok.status_code == 207
    finally:
        gw.stop()
