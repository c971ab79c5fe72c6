"""Replay of what Sonarr and Radarr send to qBittorrent (arr-protocol.md §5.1, §5.2), over raw HTTP.

Each request is the one the arr's source sends, in its order, with its headers
(Basic on every call, the arr's User-Agent, the SID cookie once obtained).
The import runs for real with the ``symlink`` action into the gateway's own
WebDAV tree mounted with rclone at ``mount_path``: the arr's files under
``content_path`` are read through the links and compared with the emulator.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import requests

from gateway.app import Gateway
from gateway.imports.torrentmeta import make_torrent_file, parse_torrent_file
from tests.integration.test_qbit import start_qbit_gateway
from tests.support import HAVE_RCLONE_MOUNT, NO_RCLONE_MOUNT, expected, infohash, rclone_mount, wait_until

USER, PASSWORD = "admin", "adminadmin"
M1_NAME = "Series.Title.S01E02.1080p.WEB-DL.x264-GRP"
M1 = ("magnet:?xt=urn:btih:ZPBPA2P6ROZPKRHK44D5OW6NHXU5Z6KR&dn=" + M1_NAME
      + "&tr=udp%3A%2F%2Ftracker.example%3A1337")
H2 = "cbc2f069fe8bb2f544eae707d75bcd3de9dcf951"
M1_LONG = M1 + "".join(f"&tr=udp%3A%2F%2Ftracker{i}.example%3A1337" for i in range(40))
NUMBER = (int, float)
# The fields the arrs parse from torrents/info (§1.4), with the JSON types they need.
ARR_FIELDS: dict[str, Any] = {
    "hash": str, "name": str, "size": int, "progress": NUMBER, "eta": int, "state": str, "category": str,
    "save_path": str, "content_path": str, "ratio": NUMBER, "ratio_limit": NUMBER, "seeding_time_limit": int,
    "inactive_seeding_time_limit": int, "last_activity": int, "seeding_time": int,
}
QBIT_FIELDS = (
    "added_on", "completion_on", "amount_left", "downloaded", "uploaded", "dlspeed", "upspeed", "num_seeds",
    "num_leechs", "num_complete", "num_incomplete", "priority", "force_start", "auto_tmm", "tags",
    "total_size", "magnet_uri", "tracker", "time_active", "max_ratio", "max_seeding_time", "infohash_v1",
    "infohash_v2", "seq_dl", "f_l_piece_prio", "super_seeding", "dl_limit", "up_limit", "availability",
    "isPrivate", "download_path", "reannounce", "seen_complete",
)
DOWNLOADING = {"metaDL", "queuedDL", "downloading", "pausedUP"}   # pausedUP: a fast import already finished


@dataclass
class ArrProfile:
    app: str
    category: str
    title: str          # T1's name: a multi-file release folder
    add_tags: bool      # Sonarr's "add series tags" follow-up


SONARR = ArrProfile("Sonarr", "tv-sonarr", "Series.Title.S01E01.1080p.WEB-DL.x264-GRP", True)
RADARR = ArrProfile("Radarr", "radarr", "Movie.Title.2024.1080p.WEB-DL.x264-GRP", False)


class Arr:
    """The arr's HTTP side: fixed headers, cached cookie, one re-login and retry on 403."""

    def __init__(self, gateway: Gateway, profile: ArrProfile, password: str = PASSWORD) -> None:
        self.base = f"http://127.0.0.1:{gateway.port}/api/v2"
        self.profile = profile
        self.password = password
        basic = base64.b64encode(f"{USER}:{password}".encode("latin-1")).decode()
        self.headers = {"Authorization": f"Basic {basic}", "User-Agent": f"{profile.app}/4.0.0.0 (test)"}
        self.cookie = ""

    def raw(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        cookies = {"SID": self.cookie} if self.cookie else {}
        return requests.request(method, f"{self.base}/{path}", headers=self.headers, cookies=cookies,
                                timeout=10, **kwargs)

    def login(self) -> requests.Response:
        answer = self.raw("POST", "auth/login", data={"username": USER, "password": self.password})
        if answer.text == "Ok.":
            self.cookie = answer.cookies["SID"]
        return answer

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        answer = self.raw(method, path, **kwargs)
        if answer.status_code == 403:
            assert self.login().text == "Ok."
            answer = self.raw(method, path, **kwargs)
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        return answer

    def info(self, category: str) -> list[dict[str, Any]]:
        self.call("GET", "app/webapiVersion")
        self.call("GET", "app/preferences")
        items = self.call("GET", "torrents/info", params={"category": category}).json()
        assert isinstance(items, list)
        for item in items:
            check_types(item)
        return items


def check_types(item: dict[str, Any]) -> None:
    """No nulls, numbers as numbers (a single null fails the arr's whole poll)."""
    for name, kind in ARR_FIELDS.items():
        value = item[name]
        assert isinstance(value, kind) and not isinstance(value, bool), (name, value)
    for name in QBIT_FIELDS:
        assert item[name] is not None, name
    assert 0 <= item["progress"] <= 1 and 0 <= item["eta"] <= 8640000
    assert item["hash"] == item["hash"].lower() and len(item["hash"]) == 40


def t1(profile: ArrProfile) -> bytes:
    # Two allowed files (video + subtitle), so both are linked and read back through the mount.
    return make_torrent_file(profile.title, [(f"{profile.title}.mkv", 900_000), (f"{profile.title}.en.srt", 2_000)],
                             seed=profile.app)


@pytest.fixture()
def replay_gateway(emulator, tmp_path):
    if not HAVE_RCLONE_MOUNT:
        pytest.skip(NO_RCLONE_MOUNT)
    mnt = str(tmp_path / "mnt")
    gateway = start_qbit_gateway(emulator, str(tmp_path / "config"), password=PASSWORD, categories=[], arrs=[],
                                 default_download_action="symlink", mount={"type": "none", "mount_path": mnt})
    try:
        with rclone_mount(f"http://127.0.0.1:{gateway.port}/webdav", mnt):
            yield gateway
    finally:
        gateway.stop()


# ------------------------------------------------------------------ the steps

def check_connection(arr: Arr) -> None:
    """Sequence A (Q1–Q9): the arr's Test/Save of the download client."""
    probe = arr.raw("GET", "app/webapiVersion")
    assert probe.status_code in (200, 403) and (probe.status_code == 200 or probe.text == "Forbidden")
    login = arr.login()
    assert (login.status_code, login.text) == (200, "Ok.") and "SID=" in login.headers["Set-Cookie"]
    for _ in range(2):
        assert arr.call("GET", "app/webapiVersion").text == "2.9.3"
    prefs = arr.call("GET", "app/preferences").json()
    assert os.path.isabs(prefs["save_path"]) and prefs["dht"] is True and prefs["queueing_enabled"] is True
    assert not (prefs["max_ratio_enabled"] or prefs["max_seeding_time_enabled"]) or prefs["max_ratio_act"] in (0, 2)
    assert all(v is not None for v in prefs.values())
    category = arr.profile.category
    assert arr.call("GET", "torrents/categories").json() == {}
    assert arr.call("POST", "torrents/createCategory", data={"category": category}).status_code == 200
    assert arr.call("GET", "torrents/categories").json()[category]["name"] == category
    assert "savePath" in arr.call("GET", "torrents/categories").json()[category]
    assert arr.call("GET", "torrents/info", params={"category": category}).json() == []


def t1_files(profile: ArrProfile) -> list[dict[str, Any]]:
    return [{"path": f"{profile.title}.mkv", "size": 900_000}, {"path": f"{profile.title}.en.srt", "size": 2_000}]


def grab(arr: Arr, emulator: Any) -> tuple[str, str]:
    """Sequences B and C (Q10–Q14): a .torrent file, then a magnet twice; returns (H1, H2)."""
    profile, category = arr.profile, arr.profile.category
    data = t1(profile)
    h1 = parse_torrent_file(data).infohash
    emulator.world.add_catalog(h1, profile.title, t1_files(profile), cached=True)
    emulator.world.add_catalog(H2, M1_NAME, [{"path": f"{M1_NAME}.mkv", "size": 500_000},
                                             {"path": f"{M1_NAME}.en.srt", "size": 1_000}], cached=True)
    arr.call("GET", "app/webapiVersion")
    parts = {"torrents": (f"{profile.title}.torrent", data, "application/octet-stream"),
             "category": (None, category), "paused": (None, "False")}
    assert arr.call("POST", "torrents/add", files=parts).text != "Fails."
    assert "save_path" in arr.call("GET", "torrents/properties", params={"hash": h1}).json()   # at once
    arr.call("GET", "torrents/properties", params={"hash": h1.upper()})
    arr.call("GET", "app/preferences")
    arr.call("GET", "app/webapiVersion")
    form = {"urls": M1, "category": category, "paused": "False"}
    assert arr.call("POST", "torrents/add", data=form).text == "Ok."
    # Over 1 KiB the arr switches to multipart even without a file part.
    parts = {"urls": (None, M1_LONG), "category": (None, category), "stopped": (None, "False")}
    assert arr.call("POST", "torrents/add", files=parts).text == "Ok."
    return h1, H2


def monitor(arr: Arr, h1: str, h2: str) -> None:
    """Sequence D (Q15–Q16): the poll sees both, lower-case, nothing leaks across categories."""
    items = arr.info(arr.profile.category)
    assert sorted(i["hash"] for i in items) == sorted([h1, h2])
    for item in items:
        assert item["category"] == arr.profile.category and item["state"] in DOWNLOADING
    assert next(i for i in items if i["hash"] == h2)["name"] == M1_NAME
    other = "radarr" if arr.profile.category != "radarr" else "tv-sonarr"
    assert arr.info(other) == []


def wait_complete(arr: Arr, emulator: Any, hashes: list[str]) -> dict[str, dict[str, Any]]:
    """Poll as the arr does until every hash is pausedUP; the emulator's clock moves meanwhile."""
    def done() -> dict[str, dict[str, Any]] | None:
        emulator.world.clock.advance(2)
        items = {i["hash"]: i for i in arr.info(arr.profile.category)}
        return items if all(items.get(h, {}).get("state") == "pausedUP" for h in hashes) else None
    return wait_until(done, timeout=30, what="pausedUP")


def check_completed(arr: Arr, item: dict[str, Any]) -> None:
    """Q17–Q18: what the arr needs to import and then remove the torrent."""
    title = arr.profile.title
    assert item["progress"] == 1 and item["eta"] == 0 and item["amount_left"] == 0
    assert item["content_path"] == f"{item['save_path']}/{title}" != item["save_path"]
    assert os.path.isdir(item["content_path"])
    links = sorted(os.listdir(item["content_path"]))
    assert links == sorted([f"{title}.mkv", f"{title}.en.srt"])
    for name in links:   # every file the arr would import, read through its symlink from the mount
        link = os.path.join(item["content_path"], name)
        assert os.path.islink(link) and "/__all__/" in os.readlink(link)
        with open(link, "rb") as handle:
            assert handle.read() == expected({"hash": item["hash"], "files": t1_files(arr.profile)}, name)
    assert item["seeding_time"] >= 0 and item["last_activity"] > 0
    assert 0 <= item["ratio_limit"] <= item["ratio"]        # the arr may move and then delete
    files = arr.call("GET", "torrents/files", params={"hash": item["hash"]}).json()
    assert files[0]["name"].startswith(f"{title}/") and all("\\" not in f["name"] for f in files)
    properties = arr.call("GET", "torrents/properties", params={"hash": item["hash"]}).json()
    assert properties["save_path"] == item["save_path"] and isinstance(properties["seeding_time"], int)


def cleanup(arr: Arr, h1: str, h2: str, items: dict[str, dict[str, Any]]) -> None:
    """Sequence E (Q19–Q21): post-import category, then delete with and without files."""
    category = arr.profile.category
    arr.call("POST", "torrents/setCategory", data={"hashes": h1, "category": "tv-imported"})
    assert h1 not in {i["hash"] for i in arr.info(category)}
    arr.call("POST", "torrents/delete", data={"hashes": h1, "deleteFiles": "true"})
    assert h1 not in {i["hash"] for i in arr.info("tv-imported")}
    assert arr.raw("GET", "torrents/properties", params={"hash": h1}).status_code == 404
    assert not os.path.exists(items[h1]["content_path"])
    arr.call("POST", "torrents/delete", data={"hashes": h2})
    assert arr.info(category) == [] and os.path.lexists(items[h2]["content_path"])


def error_paths(arr: Arr, gateway: Gateway) -> None:
    """Q22–Q24: expired session → 403 → re-login → retry; bad password; bad .torrent."""
    arr.cookie = "zzz"
    assert (arr.raw("GET", "torrents/info").status_code, arr.raw("GET", "torrents/info").text) == (403, "Forbidden")
    arr.call("GET", "torrents/info")            # logs in again and retries
    gateway.auth.drop_session(arr.cookie)       # the session ends on the server side
    stale = arr.cookie
    assert arr.raw("GET", "torrents/info").status_code == 403
    assert arr.call("GET", "torrents/info").json() == [] and arr.cookie != stale
    wrong = Arr(gateway, arr.profile, password="wrong-password").login()
    assert (wrong.status_code, wrong.text) == (200, "Fails.") and "Set-Cookie" not in wrong.headers
    garbage = {"torrents": ("x.torrent", b"garbage", "application/octet-stream"),
               "category": (None, arr.profile.category)}
    answer = arr.raw("POST", "torrents/add", files=garbage)
    assert (answer.status_code, answer.text) == (415, "Error: 'x.torrent' is not a valid torrent file.")


def follow_ups(arr: Arr) -> None:
    """Q25: the optional calls after an add, on a fresh torrent."""
    h = infohash(f"{arr.profile.app}-fresh")
    arr.call("POST", "torrents/add", data={"urls": f"magnet:?xt=urn:btih:{h}&dn={quote('Fresh.One')}",
                                           "category": arr.profile.category, "paused": "False"})
    for _ in range(3):      # WaitForTorrent
        arr.call("GET", "torrents/properties", params={"hash": h})
    arr.call("POST", "torrents/setShareLimits", data={"hashes": h, "ratioLimit": "1.5", "seedingTimeLimit": "-2"})
    arr.call("POST", "torrents/topPrio", data={"hashes": h})
    arr.call("POST", "torrents/setForceStart", data={"hashes": h, "value": "true"})
    if arr.profile.add_tags:
        arr.call("POST", "torrents/addTags", data={"hashes": h, "tags": "a,b"})
    item = next(i for i in arr.info(arr.profile.category) if i["hash"] == h)
    assert item["ratio_limit"] == 1.5 and item["tags"] == ("a, b" if arr.profile.add_tags else "")
    arr.call("POST", "torrents/delete", data={"hashes": h, "deleteFiles": "True"})


# ------------------------------------------------------------------ the runs

@pytest.mark.parametrize("profile", [SONARR, RADARR], ids=["sonarr", "radarr"])
def test_arr_replay(replay_gateway, emulator, profile: ArrProfile) -> None:
    arr = Arr(replay_gateway, profile)
    check_connection(arr)
    h1, h2 = grab(arr, emulator)
    monitor(arr, h1, h2)
    items = wait_complete(arr, emulator, [h1, h2])
    check_completed(arr, items[h1])
    cleanup(arr, h1, h2, items)
    error_paths(arr, replay_gateway)
    follow_ups(arr)


def test_radarr_without_credentials(emulator, tmp_path) -> None:
    """§5.2: auth disabled, Basic ``Og==`` (empty credentials), no login, every call 200 without a cookie."""
    gateway = start_qbit_gateway(emulator, str(tmp_path / "config"), password=PASSWORD, use_auth=False,
                                 categories=[], arrs=[])
    try:
        arr = Arr(gateway, RADARR)
        arr.headers["Authorization"] = "Basic Og=="
        for path in ("app/webapiVersion", "app/preferences", "torrents/categories"):
            assert arr.raw("GET", path).status_code == 200
        assert arr.raw("POST", "torrents/createCategory", data={"category": "radarr"}).status_code == 200
        h = infohash("radarr-anonymous")
        added = arr.raw("POST", "torrents/add", data={"urls": f"magnet:?xt=urn:btih:{h}&dn=Movie", "category": "radarr",
                                                      "paused": "False"})
        assert added.text == "Ok."
        assert [i["hash"] for i in arr.info("radarr")] == [h] and arr.cookie == ""
    finally:
        gateway.stop()
