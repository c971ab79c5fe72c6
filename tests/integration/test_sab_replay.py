"""Sonarr's SABnzbd sequence (arr-protocol §5.3, S1-S14) replayed against the running gateway.

The NZBs go to an emulated usenet account (Premiumize, then TorBox): real
HTTP from the "arr" to the gateway and from the gateway to the provider.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from emulators.server import KEYS, Emulator
from gateway.app import Gateway
from tests.support import SAMPLE, TOKEN, start_gateway, wait_until

STATUSES = {"Grabbing", "Queued", "Paused", "Checking", "Downloading", "QuickCheck", "Verifying", "Repairing",
            "Fetching", "Extracting", "Moving", "Running", "Completed", "Failed", "Deleted", "Propagating"}
TIMELEFT = re.compile(r"^(\d+:)?\d+:\d\d:\d\d$")
DECIMAL = re.compile(r"^\d+\.\d\d$")
N1 = "Series.Title.S01E03.1080p.WEB-DL.x264-GRP"
N2 = "Series.Title.S01E04.1080p.WEB-DL.x264-GRP"
N3 = "Series.Title.S01E05.1080p.WEB-DL.x264-GRP"


def nzb(title: str, size: int = 400_000) -> bytes:
    """A valid NZB (with the DOCTYPE real ones carry) of one video in two segments."""
    half = size // 2
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nzb PUBLIC "-//newzBin//DTD NZB 1.1//EN" "http://www.newzbin.com/DTD/nzb/nzb-1.1.dtd">
<nzb xmlns="http://www.newzbin.com/DTD/2003/nzb">
  <head><meta type="title">{title}</meta></head>
  <file poster="poster@example" date="1700000000" subject="{title} - &quot;{title}.mkv&quot; yEnc (1/2)">
    <groups><group>alt.binaries.test</group></groups>
    <segments>
      <segment bytes="{half}" number="1">part1-{title}@example</segment>
      <segment bytes="{size - half}" number="2">part2-{title}@example</segment>
    </segments>
  </file>
</nzb>
""".encode()


@pytest.fixture(params=["premiumize", "torbox"])
def usenet(request: pytest.FixtureRequest, emulator: Emulator) -> str:
    kind = str(request.param)
    emulator.world.add_account("usenet-key", provider=KEYS[kind])
    return kind


@pytest.fixture()
def sab(emulator: Emulator, usenet: str, tmp_path: Any) -> Iterator[tuple[Gateway, str]]:
    complete = str(tmp_path / "complete")
    gateway = start_gateway(
        emulator, str(tmp_path / "c"), use_auth=True, download_folder=complete, refresh_interval="200ms",
        default_download_action="download",
        debrids=[{"name": "rd", "provider": "realdebrid", "api_key": TOKEN, "api_url": emulator.rd_api_url,
                  "rate_limit": "off", "torrents_refresh_interval": "1h"},
                 {"name": usenet, "provider": usenet, "api_key": "usenet-key",
                  "api_url": emulator.api_url(usenet), "rate_limit": "off", "torrents_refresh_interval": "1h"}])
    key = gateway.auth.setup("admin", "adminadmin")
    gateway.imports.start()
    try:
        yield gateway, key
    finally:
        gateway.stop()


def call(gateway: Gateway, key: str | None, method: str = "GET", files: Any = None, **params: Any) -> Any:
    query = {**params, **({"apikey": key} if key is not None else {}), "output": "json"}
    response = requests.request(method, f"http://127.0.0.1:{gateway.port}/sabnzbd/api", params=query,
                                files=files, headers={"Accept": "application/json"}, timeout=20)
    assert response.status_code == 200, response.text
    return response.json()


def addfile(gateway: Gateway, key: str, title: str, data: bytes, cat: str = "tv") -> str:
    files = {"name": (f"{title}.nzb", data, "application/x-nzb")}
    answer = call(gateway, key, "POST", files=files, mode="addfile", cat=cat, priority="-100")
    assert answer["status"] is True and len(answer["nzo_ids"]) == 1, answer
    return str(answer["nzo_ids"][0])


def queue(gateway: Gateway, key: str, cat: str = "tv") -> dict[str, Any]:
    return call(gateway, key, mode="queue", start="0", limit="0", category=cat)["queue"]


def history(gateway: Gateway, key: str, cat: str = "tv") -> list[dict[str, Any]]:
    return call(gateway, key, mode="history", start="0", limit="60", category=cat)["history"]["slots"]


def test_sonarr_over_sabnzbd(sab: tuple[Gateway, str], emulator: Emulator, usenet: str) -> None:
    gateway, key = sab
    assert call(gateway, None, mode="version") == {"version": "4.5.1"}                       # S1
    for _ in range(3):                                                                       # S2
        config = call(gateway, key, mode="get_config")["config"]
        misc = config["misc"]
        assert os.path.isabs(misc["complete_dir"]) and misc["pre_check"] is False
        assert not (misc["enable_tv_sorting"] or misc["enable_movie_sorting"] or misc["enable_date_sorting"])
        assert misc["history_retention_option"] == "all" and misc["history_retention_number"] == 0
        assert isinstance(misc["tv_categories"], list) and config["sorters"] == []
        cats = {c["name"]: c for c in config["categories"]}
        assert "tv" in cats and "*" in cats and not cats["tv"]["dir"].endswith("*")
    id1 = addfile(gateway, key, N1, nzb(N1))                                                 # S3
    slots = queue(gateway, key)["slots"]                                                     # S4
    assert [s["nzo_id"] for s in slots] == [id1]
    slot = slots[0]
    assert (slot["filename"], slot["cat"]) == (N1, "tv") and slot["status"] in STATUSES
    assert TIMELEFT.match(slot["timeleft"]) and slot["percentage"].isdigit()
    assert DECIMAL.match(slot["mb"]) and DECIMAL.match(slot["mbleft"])
    assert queue(gateway, key)["paused"] is False
    assert history(gateway, key) == []                                                       # S5
    emulator.world.clock.advance(3600)                                                       # hook: complete
    done = wait_until(lambda: [s for s in history(gateway, key) if s["status"] == "Completed"], 30,
                      "the job to complete")[0]                                              # S6
    assert queue(gateway, key)["slots"] == []
    storage = os.path.join(gateway.config.download_folder, "tv", N1)
    assert (done["nzo_id"], done["name"], done["category"], done["storage"]) == (id1, N1, "tv", storage)
    assert done["bytes"] > 0 and os.path.isfile(os.path.join(storage, f"{N1}.mkv"))
    assert os.path.getsize(os.path.join(storage, f"{N1}.mkv")) == 400_000
    assert call(gateway, key, mode="history", name="delete", del_files="1", value=id1, archive="1") \
        == {"status": True}                                                                  # S8
    assert history(gateway, key) == [] and not os.path.exists(storage)
    failing = nzb(N2)                                                                        # S9
    emulator.world.states[KEYS[usenet]].failing_nzbs.add(hashlib.md5(failing).hexdigest())
    id2 = addfile(gateway, key, N2, failing)
    emulator.world.clock.advance(3600)
    failed = wait_until(lambda: [s for s in history(gateway, key) if s["nzo_id"] == id2 and s["status"] == "Failed"],
                        30, "the job to fail")[0]
    assert failed["fail_message"] and failed["storage"] == ""
    assert call(gateway, key, mode="history", name="delete", del_files="1", value=id2, archive="0") \
        == {"status": True}                                                                  # S10
    id3 = addfile(gateway, key, N3, nzb(N3, 50_000_000))                                     # S11
    assert call(gateway, key, mode="queue", name="delete", del_files="1", value=id3) \
        == {"status": True, "nzo_ids": [id3]}
    assert queue(gateway, key)["slots"] == []
    assert call(gateway, None, mode="queue") == {"status": False, "error": "API Key Required"}  # S12
    assert call(gateway, "bad", mode="queue") == {"status": False, "error": "API Key Incorrect"}
    addfile(gateway, key, "Some.Book.2020.EPUB", nzb("Some.Book.2020.EPUB", 80_000_000), cat="Readarr")  # S13
    assert [s["cat"] for s in queue(gateway, key, "Readarr")["slots"]] == ["Readarr"]


class _NzbServer:
    """A tiny indexer: serves one NZB at /get/<title>.nzb (what Prowlarr hands to addurl)."""

    def __init__(self, body: bytes) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-nzb")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/get/{N3}.nzb"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_prowlarr_addurl_and_rest_add_take_an_nzb_link(sab: tuple[Gateway, str]) -> None:
    gateway, key = sab
    indexer = _NzbServer(nzb(N3))
    try:
        answer = call(gateway, key, "POST", mode="addurl", name=indexer.url, cat="prowlarr", priority="-100")  # S14
        assert answer["status"] is True and answer["nzo_ids"][0].startswith("SABnzbd_nzo_")
        assert [s["filename"] for s in queue(gateway, key, "prowlarr")["slots"]] == [N3]
        response = requests.post(f"http://127.0.0.1:{gateway.port}/api/add", timeout=20,
                                 headers={"Authorization": f"Bearer {key}"},
                                 json={"url": indexer.url, "category": "tv"})
        assert response.status_code == 200 and response.json()[0]["name"] == N3
    finally:
        indexer.close()


@pytest.mark.parametrize("body, why", [
    (b"this is not xml", "not well-formed"),
    (b'<?xml version="1.0"?><nzb xmlns="http://www.newzbin.com/DTD/2003/nzb"></nzb>', "no files"),
    (b'<?xml version="1.0"?><!DOCTYPE nzb [<!ENTITY a "aaaa">]><nzb>&a;</nzb>', "entities"),
])
def test_a_bad_nzb_is_refused_clearly(sab: tuple[Gateway, str], body: bytes, why: str) -> None:
    gateway, key = sab
    answer = call(gateway, key, "POST", files={"name": ("bad.nzb", body, "application/x-nzb")},
                  mode="addfile", cat="tv")
    assert answer["status"] is False and why in answer["error"]
    response = requests.post(f"http://127.0.0.1:{gateway.port}/api/add", timeout=20,
                             headers={"Authorization": f"Bearer {key}"}, files={"file": ("bad.nzb", body)})
    assert response.status_code == 400 and why in response.json()["error"]
    assert queue(gateway, key)["slots"] == [] and gateway.imports.list() == []


def test_an_nzb_without_a_usenet_account_names_what_to_configure(emulator: Emulator, tmp_path: Any) -> None:
    emulator.world.seed_library(TOKEN, SAMPLE)
    gateway = start_gateway(emulator, str(tmp_path / "c"))
    try:
        base = f"http://127.0.0.1:{gateway.port}"
        answer = requests.post(f"{base}/sabnzbd/api", params={"mode": "addfile", "cat": "tv", "output": "json"},
                               files={"name": (f"{N1}.nzb", nzb(N1))}, timeout=20).json()
        assert answer["status"] is False and "torbox or premiumize" in answer["error"]
        response = requests.post(f"{base}/api/add", files={"file": (f"{N1}.nzb", nzb(N1))}, timeout=20)
        assert response.status_code == 400 and "usenet" in response.json()["error"]
        assert len(gateway.vfs.listdir("/__all__")) == len(SAMPLE)   # nothing in the library moved
    finally:
        gateway.stop()
