"""The qBittorrent Web API through the real ``qbittorrent-api`` client and raw HTTP.

Imports run for real against the emulator with the ``strm`` action, so a
torrent goes metaDL → … → pausedUP and ``content_path`` holds .strm files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import qbittorrentapi
import requests

from api.auth import PUBLIC
from gateway.app import Gateway
from gateway.imports.torrentmeta import make_torrent_file, parse_torrent_file
from tests.support import infohash, start_gateway, wait_until

USER, PASSWORD = "admin", "password123"
ARR_HOST, ARR_KEY = "http://sonarr.local:8989", "sonarr-api-key-0123456789"
NAME = "Series.Title.S01E01.1080p.WEB-DL.x264-GRP"


def start_qbit_gateway(emulator: Any, config_dir: str, password: str = PASSWORD, **overrides: Any) -> Gateway:
    """A gateway whose imports finish on their own: strm action, fast polls, no conversion delay."""
    emulator.world.set_knobs(conv_delay=0)
    settings: dict[str, Any] = {
        "use_auth": True, "default_download_action": "strm", "refresh_interval": "200ms",
        "download_folder": os.path.join(config_dir, "downloads"),
        "arrs": [{"name": "tv-sonarr", "host": ARR_HOST, "token": ARR_KEY}],
    }
    settings.update(overrides)
    gateway = start_gateway(emulator, config_dir, **settings)
    gateway.imports.start()
    if not gateway.auth.has_user():
        gateway.auth.setup(USER, password)
    return gateway


@pytest.fixture()
def qgw(emulator, tmp_path) -> Iterator[Gateway]:
    gateway = start_qbit_gateway(emulator, str(tmp_path / "config"))
    try:
        yield gateway
    finally:
        gateway.stop()


def url(gateway: Gateway, path: str = "") -> str:
    return f"http://127.0.0.1:{gateway.port}{path}"


def client(gateway: Gateway, username: str = USER, password: str = PASSWORD) -> qbittorrentapi.Client:
    return qbittorrentapi.Client(host=url(gateway), username=username, password=password,
                                 REQUESTS_ARGS={"timeout": 10})


def session(gateway: Gateway) -> requests.Session:
    """A raw HTTP session logged in the way the *arrs do it."""
    http = requests.Session()
    answer = http.post(url(gateway, "/api/v2/auth/login"), data={"username": USER, "password": PASSWORD},
                       timeout=10)
    assert answer.text == "Ok." and "SID" in http.cookies
    return http


def catalog_episode(emulator: Any, label: str, name: str = NAME, cached: bool = True) -> str:
    """A cached multi-file torrent in the emulator; returns its infohash."""
    h = infohash(label)
    emulator.world.add_catalog(h, name, [{"path": f"{name}.mkv", "size": 700_000},
                                         {"path": f"{name}.en.srt", "size": 1_000}], cached=cached)
    return h


def wait_state(gateway: Gateway, emulator: Any, h: str, state: str = "pausedUP") -> Any:
    def reached() -> Any:
        emulator.world.clock.advance(2)   # past the emulator's queue and download delays
        record = gateway.imports.get(h)
        return record if record is not None and record.state.value == state else None
    return wait_until(reached, timeout=20, what=f"{h} in state {state}")


# ------------------------------------------------------------------ basics

def test_login_versions_and_preferences(qgw) -> None:
    qbt = client(qgw)
    qbt.auth_log_in()
    assert qbt.is_logged_in
    assert qbt.app_version() == "v4.6.7"
    assert qbt.app_web_api_version() == "2.9.3"
    prefs = qbt.app_preferences()
    assert prefs["save_path"] == qgw.config.download_folder and os.path.isabs(prefs["save_path"])
    assert prefs["dht"] is True and prefs["queueing_enabled"] is True and prefs["max_ratio_act"] == 0
    assert qbt.app_build_info()["bitness"] == 64
    assert qbt.app_default_save_path() == qgw.config.download_folder
    assert qbt.transfer_info()["connection_status"] == "connected"
    assert qbt.sync_maindata()["full_update"] is True
    with pytest.raises(qbittorrentapi.LoginFailed):
        client(qgw, USER, "wrong-password").auth_log_in()


def test_categories(qgw) -> None:
    qbt = client(qgw)
    categories = qbt.torrents_categories()
    assert set(categories) >= {"sonarr", "radarr"}
    assert categories["sonarr"]["savePath"] == os.path.join(qgw.config.download_folder, "sonarr")
    qbt.torrents_create_category("tv-sonarr")
    assert qbt.torrents_categories()["tv-sonarr"] == {
        "name": "tv-sonarr", "savePath": os.path.join(qgw.config.download_folder, "tv-sonarr")}
    with pytest.raises(qbittorrentapi.Conflict409Error):
        qbt.torrents_create_category("tv-sonarr")
    with pytest.raises(qbittorrentapi.Conflict409Error):
        qbt.torrents_create_category("../escape")
    qbt.torrents_edit_category("tv-sonarr", save_path="/data/tv")
    assert qbt.torrents_categories()["tv-sonarr"]["savePath"] == "/data/tv"
    qbt.torrents_remove_categories("tv-sonarr")
    assert "tv-sonarr" not in qbt.torrents_categories()
    http = session(qgw)
    assert http.post(url(qgw, "/api/v2/torrents/createCategory"), data={"category": ""},
                     timeout=10).status_code == 400


# ------------------------------------------------------------- torrents

def test_magnet_add_to_delete(qgw, emulator) -> None:
    h = catalog_episode(emulator, "magnet-episode")
    qbt = client(qgw)
    assert qbt.torrents_add(urls=f"magnet:?xt=urn:btih:{h.upper()}&dn={NAME}", category="tv-sonarr") == "Ok."
    listed = qbt.torrents_info(category="tv-sonarr")      # synchronous visibility, no waiting
    assert [t.hash for t in listed] == [h] and listed[0].name == NAME
    assert qbt.torrents_info(category="radarr") == []
    assert qbt.torrents_properties(h.upper())["save_path"] == os.path.join(qgw.config.download_folder, "tv-sonarr")
    assert "tv-sonarr" in qbt.torrents_categories()       # auto-created by add

    wait_state(qgw, emulator, h)
    info = qbt.torrents_info(hashes=h)[0]
    assert info.state == "pausedUP" and info.progress == 1 and info.eta == 0
    assert info.content_path == os.path.join(info.save_path, NAME) != info.save_path
    assert sorted(os.listdir(info.content_path)) == [f"{NAME}.mkv.strm"]
    files = qbt.torrents_files(h)
    assert [f.name for f in files] == [f"{NAME}/{NAME}.mkv", f"{NAME}/{NAME}.en.srt"]
    assert qbt.torrents_properties(h)["seeding_time"] >= 0

    qbt.torrents_delete(delete_files=True, torrent_hashes=h)
    assert qbt.torrents_info() == [] and not os.path.exists(info.content_path)
    with pytest.raises(qbittorrentapi.NotFound404Error):
        qbt.torrents_properties(h)


def test_torrent_file_add(qgw, emulator) -> None:
    data = make_torrent_file(NAME, [(f"{NAME}.mkv", 700_000), (f"{NAME}.en.srt", 1_000)], seed="file")
    h = parse_torrent_file(data).infohash
    emulator.world.add_catalog(h, NAME, [{"path": f"{NAME}.mkv", "size": 700_000},
                                         {"path": f"{NAME}.en.srt", "size": 1_000}], cached=True)
    qbt = client(qgw)
    assert qbt.torrents_add(torrent_files=data, category="sonarr", tags="a,b", is_paused=False) == "Ok."
    info = qbt.torrents_info(category="sonarr")[0]
    assert info.hash == h and info.size == 701_000 and info.tags == "a, b"
    assert [f.name for f in qbt.torrents_files(h)] == [f"{NAME}/{NAME}.mkv", f"{NAME}/{NAME}.en.srt"]
    # A duplicate is accepted and keeps the one entry (the *arr tracks its own hash).
    assert qbt.torrents_add(torrent_files=data, category="sonarr") == "Ok."
    assert len(qbt.torrents_info()) == 1
    wait_state(qgw, emulator, h)
    assert qbt.torrents_info(status_filter="completed")[0].hash == h
    assert qbt.torrents_info(status_filter="downloading") == []


def test_tags_share_limits_and_no_ops(qgw, emulator) -> None:
    h = catalog_episode(emulator, "tags")
    qbt = client(qgw)
    qbt.torrents_add(urls=f"magnet:?xt=urn:btih:{h}&dn={NAME}", category="sonarr", ratio_limit=2.0)
    assert qbt.torrents_info()[0].ratio_limit == 2.0
    qbt.torrents_set_share_limits(ratio_limit=1.5, seeding_time_limit=-2, torrent_hashes=h)
    qbt.torrents_add_tags(tags="x,y", torrent_hashes=h)
    qbt.torrents_create_tags(tags="spare")
    assert qbt.torrents_tags() == ["spare", "x", "y"]
    qbt.torrents_remove_tags(tags="x", torrent_hashes=h)
    wait_state(qgw, emulator, h)   # the import worker must not undo the client's edits
    info = qbt.torrents_info()[0]
    assert info.ratio_limit == 1.5 and info.tags == "y" and info.ratio >= info.ratio_limit
    qbt.torrents_delete_tags(tags="x,y,spare")   # removeTags kept "x" as a known tag
    assert qbt.torrents_tags() == [] and qbt.torrents_info()[0].tags == ""
    qbt.torrents_set_category("tv-imported", torrent_hashes=h)
    assert [t.hash for t in qbt.torrents_info(category="tv-imported")] == [h]
    for call in (qbt.torrents_stop, qbt.torrents_start, qbt.torrents_top_priority, qbt.torrents_recheck,
                 qbt.torrents_reannounce, qbt.torrents_toggle_sequential_download):
        call(torrent_hashes=h)
    qbt.torrents_set_force_start(True, torrent_hashes=h)
    assert qbt.torrents_trackers(h)[0]["url"] == "** [DHT] **"
    assert qbt.torrents_webseeds(h) == [] and qbt.torrents_piece_states(h) == []


def test_info_sort_limit_offset(qgw, emulator) -> None:
    qbt = client(qgw)
    hashes = [infohash(f"sort-{i}") for i in range(3)]
    for i, h in enumerate(hashes):
        qbt.torrents_add(urls=f"magnet:?xt=urn:btih:{h}&dn=Item{2 - i}", category="radarr")
    assert [t.name for t in qbt.torrents_info(sort="name")] == ["Item0", "Item1", "Item2"]
    assert [t.name for t in qbt.torrents_info(sort="name", reverse=True, limit=2)] == ["Item2", "Item1"]
    assert [t.name for t in qbt.torrents_info(sort="name", offset=1, limit=1)] == ["Item1"]
    assert {t.hash for t in qbt.torrents_info(torrent_hashes=hashes[:2])} == set(hashes[:2])
    http = session(qgw)
    piped = http.get(url(qgw, "/api/v2/torrents/info"), params={"hashes": "|".join(h.upper() for h in hashes)},
                     timeout=10)
    assert len(piped.json()) == 3
    assert http.get(url(qgw, "/api/v2/torrents/info"), params={"category": ""}, timeout=10).json() == []
    qbt.torrents_delete(delete_files=False, torrent_hashes="all")
    assert qbt.torrents_info() == []


# ------------------------------------------------------------- bad input

def test_bad_torrents_and_unknown_hashes(qgw) -> None:
    http = session(qgw)
    add = url(qgw, "/api/v2/torrents/add")
    good = make_torrent_file(NAME, [(f"{NAME}.mkv", 1000)], seed="bad-input")
    for filename, body in (("cut.torrent", good[: len(good) // 2]), ("plain.torrent", b"garbage")):
        answer = http.post(add, files={"torrents": (filename, body, "application/octet-stream")}, timeout=10)
        assert answer.status_code == 415, answer.text
        assert answer.text == f"Error: '{filename}' is not a valid torrent file."
    assert http.post(add, data={"urls": "magnet:?dn=no-hash"}, timeout=10).text == "Fails."
    assert http.post(add, data={"urls": "not a link"}, timeout=10).text == "Fails."
    assert http.post(add, data={}, timeout=10).text == "Fails."
    assert http.get(url(qgw, "/api/v2/torrents/info"), timeout=10).json() == []
    for endpoint in ("properties", "files", "trackers", "pieceStates"):
        answer = http.get(url(qgw, f"/api/v2/torrents/{endpoint}"), params={"hash": "0" * 40}, timeout=10)
        assert (answer.status_code, answer.text) == (404, "Not Found"), endpoint
    assert http.get(url(qgw, "/api/v2/torrents/properties"), timeout=10).status_code == 400
    assert http.get(url(qgw, "/api/v2/torrents/info"), params={"limit": "x"}, timeout=10).status_code == 400
    assert http.post(url(qgw, "/api/v2/torrents/delete"), data={"hashes": "f" * 40}, timeout=10).status_code == 200


def test_bad_numbers_bodies_and_paths(qgw) -> None:
    http = session(qgw)
    api = url(qgw, "/api/v2/torrents")
    for value in ("nan", "inf", "lots"):
        answer = http.post(f"{api}/setShareLimits", data={"hashes": "all", "ratioLimit": value}, timeout=10)
        assert answer.status_code == 400 and "ratioLimit" in answer.text, value
    broken = http.post(f"{api}/add", data=b"junk", headers={"Content-Type": "multipart/form-data"}, timeout=10)
    assert broken.status_code == 400 and broken.headers["Content-Type"].startswith("text/plain")
    assert http.post(f"{api}/createCategory", data={"category": "rel", "savePath": "sub/dir"},
                     timeout=10).status_code == 200
    saved = http.get(f"{api}/categories", timeout=10).json()["rel"]["savePath"]
    assert saved == os.path.join(qgw.config.download_folder, "sub", "dir")
    assert http.post(f"{api}/setCategory", data={"hashes": "all", "category": "a/../b"},
                     timeout=10).status_code == 409


def test_auth_paths(qgw) -> None:
    base = url(qgw, "/api/v2")
    anonymous = requests.get(f"{base}/torrents/info", timeout=10)
    assert (anonymous.status_code, anonymous.text) == (403, "Forbidden")
    assert requests.get(f"{base}/app/webapiVersion", timeout=10).status_code == 403   # the arrs' v2 probe
    bogus = requests.get(f"{base}/torrents/info", cookies={"SID": "zzz"}, timeout=10)
    assert bogus.status_code == 403
    token = qgw.auth.api_token()
    bearer = requests.get(f"{base}/torrents/info", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert (bearer.status_code, bearer.json()) == (200, [])
    wrong_key = requests.post(f"{base}/auth/login", data={"username": ARR_HOST, "password": "nope"}, timeout=10)
    assert wrong_key.text == "Fails." and "SID" not in wrong_key.cookies
    by_token = requests.post(f"{base}/auth/login", data={"username": "x", "password": token}, timeout=10)
    assert by_token.text == "Ok."
    assert requests.get(f"{base}/auth/login", timeout=10).status_code == 405
    http = requests.Session()
    assert http.post(f"{base}/auth/login", data={"username": ARR_HOST, "password": ARR_KEY}, timeout=10).text == "Ok."
    cookie = next(c for c in http.cookies if c.name == "SID")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/"
    magnet = f"magnet:?xt=urn:btih:{infohash('arr-bound')}&dn=Bound"
    assert http.post(f"{base}/torrents/add", data={"urls": magnet, "category": "tv-bound"}, timeout=10).text == "Ok."
    assert qgw.store.get_meta("arr_category:tv-bound") == ARR_HOST   # the *arr's session tied the category
    http.post(f"{base}/auth/logout", timeout=10)
    assert http.get(f"{base}/torrents/info", timeout=10).status_code == 403


def test_auth_off_lets_anyone_in(emulator, tmp_path) -> None:
    gateway = start_qbit_gateway(emulator, str(tmp_path / "config"), use_auth=False)
    try:
        base = url(gateway, "/api/v2")
        assert requests.get(f"{base}/torrents/info", timeout=10).json() == []
        login = requests.post(f"{base}/auth/login", data={"username": "any", "password": "thing"}, timeout=10)
        assert login.text == "Ok." and "SID" in login.cookies
    finally:
        gateway.stop()


# ------------------------------------------------------------ route guard

def _concrete(rule: str) -> str:
    """A request path for a Bottle rule: every ``<wildcard>`` becomes a dummy segment."""
    return re.sub(r"<[^>]*>", "x", rule)


GUARD_MESSAGE = "unauthorized: send"


def test_every_route_is_guarded(qgw) -> None:
    root = qgw.apps[qgw.config.prefix or "/"]
    routes = {(r.method if r.method != "ANY" else "GET", r.rule) for r in root.routes}
    assert ("POST", "/api/v2/torrents/add") in routes and ("GET", "/api/v2/torrents/info") in routes
    assert routes >= PUBLIC   # every public entry is a real route, so the loop checks it answers
    for method, rule in sorted(routes):
        answer = requests.request(method, url(qgw, _concrete(rule)), timeout=10)
        if (method, rule) in PUBLIC:
            # A public route may refuse the empty input, but not for lack of credentials.
            assert answer.text != "Forbidden" and GUARD_MESSAGE not in answer.text, (method, rule)
            assert answer.status_code < 500, (method, rule)
        elif rule.startswith("/api/v2/"):
            assert (answer.status_code, answer.text) == (403, "Forbidden"), (method, rule)
        elif rule == "/sabnzbd/api":   # SABnzbd's own refusal, which the *arrs can show
            assert answer.json() == {"status": False, "error": "API Key Required"}, (method, rule)
        else:
            assert answer.status_code == 401, (method, rule)
            assert method == "HEAD" or GUARD_MESSAGE in answer.text, (method, rule)
