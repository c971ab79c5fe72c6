"""Security sweep: auth on every method and mode, traversal, hostile names, secrets.

The routes are listed from the apps themselves where they can be (Bottle's
route table, SABnzbd's mode table), so a route added later is swept too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote
from xml.etree import ElementTree

import pytest
import requests

from api.sabnzbd import SabApi
from emulators.server import Emulator
from gateway.app import Gateway
from tests.support import SAMPLE, TOKEN, infohash, start_gateway

DAV_METHODS = ["GET", "HEAD", "PROPFIND", "OPTIONS", "DELETE", "PUT", "MKCOL", "MOVE", "COPY", "PROPPATCH",
               "LOCK", "UNLOCK", "POST"]
USER, PASSWORD = "admin", "correct horse 9"
HOSTILE = [
    "Quotes \"double\" and 'single' (2020)",
    "Tags <script>alert(1)</script> & more",
    "Percent %41 %2F %252e done",
    "Control \x01\x1f chars",
    "Lone \udcff surrogate",
    "Back\\slash and ..dots..",
]


@pytest.fixture()
def locked(emulator: Emulator, tmp_path: Any) -> Iterator[tuple[Gateway, str]]:
    """A gateway with auth on everywhere (WebDAV included) and one user."""
    gateway = start_gateway(emulator, str(tmp_path / "c"), use_auth=True, enable_webdav_auth=True)
    token = gateway.auth.setup(USER, PASSWORD)
    try:
        yield gateway, token
    finally:
        gateway.stop()


def _url(gateway: Gateway, path: str) -> str:
    return f"http://127.0.0.1:{gateway.port}{path}"


def test_every_webdav_method_needs_basic_auth(locked: tuple[Gateway, str]) -> None:
    gateway, _ = locked
    for method in DAV_METHODS:
        for path in ("/webdav/", f"/webdav/__all__/{quote(SAMPLE[0]['name'])}/"):
            answer = requests.request(method, _url(gateway, path), timeout=10)
            assert answer.status_code == 401, (method, path, answer.status_code)
            assert answer.headers.get("WWW-Authenticate", "").startswith("Basic"), (method, path)
    good = requests.request("PROPFIND", _url(gateway, "/webdav/"), auth=(USER, PASSWORD),
                            headers={"Depth": "1"}, timeout=10)
    assert good.status_code == 207
    wrong = requests.request("PROPFIND", _url(gateway, "/webdav/"), auth=(USER, "nope"), timeout=10)
    assert wrong.status_code == 401


def test_every_sabnzbd_mode_but_version_needs_the_key(locked: tuple[Gateway, str], tmp_path: Any) -> None:
    gateway, token = locked
    sab = SabApi(gateway.config, gateway.imports, gateway.auth, gateway.clock.now)
    modes = sorted(sab._modes)                                # the app's own table: new modes are swept too
    assert {"addfile", "addurl", "queue", "history", "get_config"} <= set(modes)
    for mode in modes:
        for key in (None, "bad-key"):
            params = {"mode": mode, "output": "json", **({"apikey": key} if key else {})}
            answer = requests.post(_url(gateway, "/sabnzbd/api"), params=params, timeout=10)
            if mode == "version":
                assert answer.json() == {"version": "4.5.1"}
                continue
            assert answer.status_code == 200 and answer.json()["status"] is False, (mode, key)
            assert answer.json()["error"] == ("API Key Incorrect" if key else "API Key Required"), (mode, key)
    ok = requests.get(_url(gateway, "/sabnzbd/api"), params={"mode": "queue", "apikey": token}, timeout=10)
    assert "queue" in ok.json()


def test_an_arbitrary_url_cannot_log_in_to_the_qbit_api(locked: tuple[Gateway, str]) -> None:
    gateway, _ = locked
    for username in ("http://evil.example:8989", "http://127.0.0.1:1/", "https://sonarr.local"):
        answer = requests.post(_url(gateway, "/api/v2/auth/login"), timeout=10,
                               data={"username": username, "password": "any-key"})
        assert answer.text == "Fails." and "SID" not in answer.cookies, username
    assert requests.post(_url(gateway, "/api/v2/auth/login"), data={"username": USER, "password": PASSWORD},
                         timeout=10).text == "Ok."


TRAVERSALS = ["..", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "..%2f..%2fetc%2fpasswd", "%2f%2fetc%2fpasswd",
              "..%5c..%5cetc", "%5c%5c", "a%00b", "%00", "x" * 300, "..;", "%252e%252e",
              # not UTF-8: overlong '.', '/' and '..', a lone continuation byte, %ff, a truncated sequence
              "%c0%ae%c0%ae", "%c0%af", "%e0%80%ae", "%80", "%ff", "%e2%82", "%25c0%25ae"]


@pytest.mark.parametrize("segment", TRAVERSALS)
def test_traversal_attempts_get_a_clean_refusal_on_every_method(gateway: Gateway, segment: str) -> None:
    paths = [f"/webdav/{segment}/", f"/webdav/__all__/{segment}/config.json",
             f"/api/browse/{segment}", f"/api/browse/__all__/{segment}",
             f"/api/browse/download/{segment}/{segment}", f"/api/v2/torrents/{segment}", f"/sabnzbd/{segment}",
             f"/static/{segment}"]
    for path in paths:
        for method in DAV_METHODS:
            answer = requests.request(method, _url(gateway, path), timeout=10)
            assert answer.status_code < 500, (method, path, answer.status_code)
            assert b"root:x:" not in answer.content and TOKEN.encode() not in answer.content, (method, path)


def test_hostile_names_give_well_formed_xml_and_hrefs_that_lead_back(emulator: Emulator, tmp_path: Any) -> None:
    entries = [{"hash": infohash(repr(name)), "name": name, "files": [{"path": f"{name}.mkv", "size": 100 + i}]}
               for i, name in enumerate(HOSTILE)]
    emulator.world.seed_library(TOKEN, entries)
    gateway = start_gateway(emulator, str(tmp_path / "c"))
    try:
        listing = requests.request("PROPFIND", _url(gateway, "/webdav/__all__/"), headers={"Depth": "1"},
                                   timeout=10)
        assert listing.status_code == 207
        tree = ElementTree.fromstring(listing.content)          # well-formed, whatever the names
        hrefs = [e.text or "" for e in tree.iter("{DAV:}href")][1:]
        shown = {unquote(h.rstrip("/").rsplit("/", 1)[-1]) for h in hrefs}
        assert len(shown) == len(SAMPLE) + len(HOSTILE)
        for href in hrefs:
            folder = requests.request("PROPFIND", _url(gateway, href), headers={"Depth": "1"}, timeout=10)
            assert folder.status_code == 207, href
            inner = [e.text or "" for e in ElementTree.fromstring(folder.content).iter("{DAV:}href")][1:]
            for file_href in inner:
                got = requests.get(_url(gateway, file_href), timeout=10)
                assert got.status_code == 200, file_href
        browse = requests.get(_url(gateway, "/api/browse/__all__?limit=100"), timeout=10).json()
        for torrent in browse["torrents"]:
            files = requests.get(_url(gateway, "/api/browse/__all__/" + quote(torrent["name"], safe="")),
                                 timeout=10)
            assert files.status_code == 200, torrent["name"]
            for file in files.json()["files"]:
                assert requests.head(_url(gateway, file["download"]), timeout=10).status_code == 200
    finally:
        gateway.stop()


def test_secrets_are_masked_in_answers_and_error_messages(locked: tuple[Gateway, str]) -> None:
    gateway, token = locked
    bearer = {"Authorization": f"Bearer {token}"}
    debrid = {"name": "realdebrid", "api_key": TOKEN, "download_api_keys": ["second-secret-key"]}
    stored = requests.post(_url(gateway, "/api/config"), headers=bearer, json={"debrids": [debrid]}, timeout=10)
    assert stored.status_code == 200 and TOKEN not in stored.text and "second-secret-key" not in stored.text
    config = requests.get(_url(gateway, "/api/config"), headers=bearer, timeout=10)
    assert TOKEN not in config.text and "****" + TOKEN[-4:] in config.text
    for path in ("/health", "/api/stats", "/api/arrs", "/api/torrents", "/api/browse/"):
        answer = requests.get(_url(gateway, path), headers=bearer, timeout=10)
        assert TOKEN not in answer.text and PASSWORD not in answer.text, path
    refused = requests.post(_url(gateway, "/api/config"), headers=bearer, timeout=10,
                            json={"debrids": [{"name": "x", "provider": "nosuch", "api_key": "sk-very-secret-1"}]})
    assert refused.status_code == 400 and "sk-very-secret-1" not in refused.text
    bad_login = requests.post(_url(gateway, "/login"), json={"username": USER, "password": "guess-1234"},
                              timeout=10)
    assert "guess-1234" not in bad_login.text
    assert json.loads(bad_login.text)["error"]
