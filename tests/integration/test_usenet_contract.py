"""Contract §8, detail by detail, against the NNTP emulator over real sockets: the job's folder
name rule, ``debrid=<account>`` beside usenet servers, an article missing deep inside a range
already answered (browse and WebDAV cut the connection), ``zero_fill_missing``, the exact
``/health`` block, NNTP passwords masked in answers, and ``usenet.max_connections`` per stream.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from typing import Any

import pytest
import requests

from emulators.server import KEYS, Emulator
from emulators.usenet.release import build_release
from gateway.app import Gateway
from tests.integration.test_usenet import PART, PASSWORD, USER, Usenet, addfile, browse, finished, media, sab, usenet
from tests.support import TOKEN, wait_until

__all__ = ["usenet"]   # the fixture, imported for pytest
HEALTH_KEYS = {"connections", "max_connections", "articles", "bytes", "missing", "errors", "state"}


def servers(usenet: Usenet, **extra: Any) -> dict[str, Any]:
    return {"providers": [usenet.primary()], "import_availability_sample_percent": 0, **extra}


def raw_get(port: int, path: str, first: int, last: int) -> tuple[int, dict[str, str], int, str]:
    """One keep-alive GET with a Range over a bare socket: status, headers, body bytes received
    and how it ended: "complete" (all of Content-Length), "closed" (the server cut it short) or
    "timeout" (the client was left waiting)."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes={first}-{last}\r\n\r\n".encode())
        buf, how, announced = b"", "timeout", None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if announced is None and b"\r\n\r\n" in buf:
                found = re.search(rb"(?im)^content-length:\s*(\d+)", buf.partition(b"\r\n\r\n")[0])
                announced = int(found.group(1)) if found else -1
            if announced is not None and len(buf.partition(b"\r\n\r\n")[2]) >= announced >= 0:
                how = "complete"
                break
            try:
                data = sock.recv(1 << 16)
            except TimeoutError:
                break
            if not data:
                how = "closed"
                break
            buf += data
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, len(body), how


# ------------------------------------------------------------------ naming


def test_the_job_folder_is_nzbname_then_meta_name_then_the_file_name(usenet: Usenet) -> None:
    gateway = usenet.start_gateway()
    video = media("naming", 250_000)
    by_param = build_release([("a.mkv", video)], name="Meta.Name.Ignored", part_size=PART, store=usenet.store,
                             seed="one")
    by_meta = build_release([("b.mkv", video)], name="Meta.Name.S01E02", part_size=PART, store=usenet.store,
                            seed="two")
    by_file = build_release([("c.mkv", video)], name="unused", part_size=PART, store=usenet.store, seed="three")
    bare = re.sub(rb"\s*<meta type=\"name\">[^<]*</meta>", b"", by_file.nzb)
    assert b'type="name"' not in bare
    answer = sab(gateway, "POST", files={"name": ("file.name.nzb", by_param.nzb, "application/x-nzb")},
                 mode="addfile", cat="tv", nzbname="Param.Name.S01E01")
    jobs = {"Param.Name.S01E01": (answer["nzo_ids"][0], "a.mkv"),
            "Meta.Name.S01E02": (addfile(gateway, "other.file.name", by_meta.nzb), "b.mkv"),
            "File.Name.S01E03": (addfile(gateway, "File.Name.S01E03", bare), "c.mkv")}
    for folder, (nzo, path) in jobs.items():
        done = finished(gateway, nzo)
        assert done["status"] == "Completed" and done["name"] == folder, done
        assert done["storage"].endswith(f"/tv/{folder}")
        assert browse(gateway, folder, path, 0, 9).content == video[:10]


# ----------------------------------------------------- debrid beside usenet


def test_debrid_sends_an_nzb_to_torbox_while_usenet_servers_exist(usenet: Usenet, emulator: Emulator) -> None:
    emulator.world.add_account("tb-key", provider=KEYS["torbox"])
    gateway = usenet.start_gateway(debrids=[{"name": "tb", "provider": "torbox", "api_key": "tb-key",
                                             "api_url": emulator.api_url("torbox"), "rate_limit": "off",
                                             "torrents_refresh_interval": "1h"},
                                            {"name": "rd", "provider": "realdebrid", "api_key": TOKEN,
                                             "api_url": emulator.rd_api_url, "rate_limit": "off",
                                             "torrents_refresh_interval": "1h"}])
    base = f"http://127.0.0.1:{gateway.port}"
    to_torbox = build_release([("Sent.mkv", media("sent", 200_000))], name="Sent.To.TorBox", part_size=PART,
                              store=usenet.store)
    to_usenet = build_release([("Read.mkv", media("read", 200_000))], name="Read.From.Usenet", part_size=PART,
                              store=usenet.store)
    usenet.server.reset_stats()
    sent = requests.post(f"{base}/api/add", data={"debrid": "tb", "category": "tv"},
                         files={"file": ("Sent.To.TorBox.nzb", to_torbox.nzb)}, timeout=20)
    assert sent.status_code == 200, sent.text
    tb = emulator.world.states[KEYS["torbox"]]
    wait_until(lambda: any(i.token == "tb-key" and i.name == "Sent.To.TorBox" for i in tb.items.values()),
               20, "the NZB to reach TorBox")
    listed = {t["name"]: t for t in requests.get(f"{base}/api/torrents", timeout=10).json()}
    assert listed["Sent.To.TorBox"]["provider"] == "tb"
    assert usenet.server.stats().commands == {}          # the usenet servers were not asked at all
    wrong = requests.post(f"{base}/api/add", data={"debrid": "rd", "category": "tv"},   # takes no NZBs
                          files={"file": ("Sent.To.TorBox.nzb", to_usenet.nzb)}, timeout=20)
    assert wrong.status_code == 400 and "rd" in wrong.json()["error"], wrong.text
    read = requests.post(f"{base}/api/add", data={"category": "tv"},
                         files={"file": ("Read.From.Usenet.nzb", to_usenet.nzb)}, timeout=20)
    assert read.status_code == 200, read.text
    wait_until(lambda: {t["name"]: t for t in requests.get(f"{base}/api/torrents", timeout=10).json()}
               ["Read.From.Usenet"]["state"] == "pausedUP", 30, "the usenet import")
    assert usenet.server.stats().commands.get("BODY", 0) >= 1
    assert not any(i.name == "Read.From.Usenet" for i in tb.items.values())


# ------------------------------------------- a hole deep inside an answered range


def _holed(usenet: Usenet, **extra: Any) -> tuple[Gateway, str, bytes]:
    title = "Show.S11E01.720p.HDTV-DEEP"
    video = media(title, 3_000_000)
    release = build_release([(f"{title}.mkv", video)], name=title, part_size=PART, store=usenet.store)
    gateway = usenet.start_gateway(usenet=servers(usenet, **extra))
    assert finished(gateway, addfile(gateway, title, release.nzb))["status"] == "Completed"
    usenet.server.set_missing([release.file(f"{title}.mkv").message_ids[25]])   # bytes [2.5 MB, 2.6 MB)
    return gateway, title, video


@pytest.mark.parametrize("via", ["browse", "webdav"])
def test_a_hole_deep_in_an_answered_range_cuts_the_answer_short(usenet: Usenet, via: str,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    gateway, title, video = _holed(usenet)
    path = (f"/api/browse/download/{title}/{title}.mkv" if via == "browse"
            else f"/webdav/__all__/{title}/{title}.mkv")
    with caplog.at_level(logging.INFO):
        status, headers, received, how = raw_get(gateway.port, path, 0, len(video) - 1)
        wait_until(lambda: [r for r in caplog.records if "cut short" in r.getMessage()], 5, "the log line")
    cut = [r for r in caplog.records if "cut short" in r.getMessage()]
    assert len(cut) == 1 and "article 26" in cut[0].getMessage() and "missing on every server" in cut[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info], "a traceback for an expected read error"
    assert status == 206 and int(headers["content-length"]) == len(video)
    assert how == "closed", f"not cut off: {how}"   # neither a wait for bytes that never come
    assert received < len(video)                        # the client sees an incomplete body
    assert received <= 25 * PART                        # nothing past the hole, no zeros in its place
    status, _, received, how = raw_get(gateway.port, path, 25 * PART + 5, 25 * PART + 99)   # starts in it
    assert status == 502 and how == "complete"   # an error before any byte of the range, whole
    good = browse(gateway, title, f"{title}.mkv", 26 * PART, len(video) - 1)   # after it: still right
    assert good.status_code == 206 and good.content == video[26 * PART:]


def test_zero_fill_missing_gives_zeros_logged_and_counted(usenet: Usenet, caplog: pytest.LogCaptureFixture) -> None:
    gateway, title, video = _holed(usenet, zero_fill_missing=True)
    with caplog.at_level(logging.WARNING):
        got = browse(gateway, title, f"{title}.mkv", 24 * PART, 27 * PART - 1)
    assert got.status_code == 206 and len(got.content) == 3 * PART
    assert got.content == video[24 * PART:25 * PART] + bytes(PART) + video[26 * PART:27 * PART]
    assert any("missing on every server" in r.getMessage() and "zeros" in r.getMessage() for r in caplog.records)
    health = requests.get(f"http://127.0.0.1:{gateway.port}/health", timeout=10).json()
    assert health["usenet_reads"]["zero_filled"] == 1 and health["usenet_reads"]["missing_reads"] == 0


# --------------------------------------------------------------- operations


def test_health_has_exactly_the_contract_block_and_no_password_anywhere(usenet: Usenet) -> None:
    title = "Show.S11E02.720p.HDTV-HEALTH"
    video = media(title, 500_000)
    release = build_release([(f"{title}.mkv", video)], name=title, part_size=PART, store=usenet.store)
    gateway = usenet.start_gateway()
    assert finished(gateway, addfile(gateway, title, release.nzb))["status"] == "Completed"
    assert browse(gateway, title, f"{title}.mkv").content == video
    base = f"http://127.0.0.1:{gateway.port}"
    block = requests.get(f"{base}/health", timeout=10).json()["usenet"]
    assert set(block) == {"primary"} and set(block["primary"]) == HEALTH_KEYS
    figures = block["primary"]
    assert figures["max_connections"] == 10 and 0 < figures["connections"] <= 10
    assert figures["articles"] >= 5 and figures["bytes"] >= len(video)
    assert (figures["missing"], figures["errors"], figures["state"]) == (0, 0, "ok")
    for answer in ("/health", "/api/stats", "/api/config", "/metrics", "/api/torrents", "/api/logs", "/settings",
                   "/setup", "/dashboard", "/stats", "/logs"):
        shown = requests.get(base + answer, timeout=10)
        assert shown.status_code == 200 and PASSWORD not in shown.text, answer


def test_a_refused_login_names_the_trouble_without_the_password(usenet: Usenet) -> None:
    title = "Show.S11E03.720p.HDTV-LOGIN"
    release = build_release([(f"{title}.mkv", media(title, 300_000))], name=title, part_size=PART,
                            store=usenet.store)
    usenet.server.set_fail_login(True)
    gateway = usenet.start_gateway()
    nzo = addfile(gateway, title, release.nzb)
    base = f"http://127.0.0.1:{gateway.port}"
    listed = wait_until(lambda: [t for t in requests.get(f"{base}/api/torrents", timeout=10).json() if t["error"]],
                        30, "the job to be held")
    assert "login" in listed[0]["error"] and PASSWORD not in listed[0]["error"]
    slots = sab(gateway, mode="queue", start="0", limit="0")["queue"]["slots"]
    assert [s["nzo_id"] for s in slots] == [nzo] and PASSWORD not in str(slots)
    block = requests.get(f"{base}/health", timeout=10).json()["usenet"]["primary"]
    assert block["state"] != "ok" and PASSWORD not in str(block)
    check = requests.post(f"{base}/api/setup/usenet-check", timeout=20, json={
        "name": "primary", "host": "127.0.0.1", "port": usenet.server.port, "username": USER, "password": PASSWORD})
    assert check.json()["ok"] is False and PASSWORD not in check.text


def test_usenet_max_connections_caps_one_stream(usenet: Usenet) -> None:
    title = "Show.S11E04.1080p.WEB-ONESTREAM"
    video = media(title, 3_000_000)
    release = build_release([(f"{title}.mkv", video)], name=title, part_size=PART, store=usenet.store)
    gateway = usenet.start_gateway(usenet=servers(usenet, max_connections=2))
    assert finished(gateway, addfile(gateway, title, release.nzb))["status"] == "Completed"
    gateway.stop()                      # a fresh pool: the import's idle connections are gone
    usenet.gateway = None
    usenet.server.reset_stats()
    usenet.server.set_latency(0.03)     # every article takes a while: a stream would overlap many
    gateway = usenet.start_gateway(usenet=servers(usenet, max_connections=2))
    assert browse(gateway, title, f"{title}.mkv").content == video
    stats = usenet.server.stats()
    assert stats.articles_served >= 30
    assert stats.connections_peak <= 2, stats     # the server allows 12, the account 10, one stream 2
    assert stats.connections_peak == 2            # and it does fetch in parallel within that cap


# ------------------------------------------------------------------- config


@pytest.mark.parametrize(("change", "field"), [
    ({"host": ""}, "host"), ({"host": "news.example.com/path"}, "host"), ({"port": 0}, "port"),
    ({"port": "nntp"}, "port"), ({"max_connections": 0}, "max_connections"), ({"ssl": "maybe"}, "ssl"),
    ({"priority": "first"}, "priority"), ({"backup": 3}, "backup"), ({"surprise": 1}, "surprise")])
def test_a_bad_usenet_server_is_a_clear_400_that_never_echoes_the_password(usenet: Usenet, change: dict[str, Any],
                                                                           field: str) -> None:
    gateway = usenet.start_gateway()
    base = f"http://127.0.0.1:{gateway.port}"
    entry = {"name": "other", "host": "news.example.com", "port": 563, "username": USER, "password": PASSWORD,
             **change}
    answer = requests.post(f"{base}/api/config", json={"usenet": {"providers": [entry]}}, timeout=10)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert set(body) >= {"error", "code"} and field in body["error"] and PASSWORD not in answer.text
    assert requests.get(f"{base}/api/config", timeout=10).json()["usenet"]["providers"][0]["name"] == "primary"


@pytest.mark.parametrize("usenet_block", [
    {"providers": [{"name": "x", "host": "a.example"}, {"name": "x", "host": "b.example"}]},   # one name twice
    {"max_connections": 0}, {"import_availability_sample_percent": 101}, {"read_ahead": "lots"},
    {"providers": "news.example.com"}])
def test_bad_usenet_settings_are_refused(usenet: Usenet, usenet_block: dict[str, Any]) -> None:
    gateway = usenet.start_gateway()
    answer = requests.post(f"http://127.0.0.1:{gateway.port}/api/config", json={"usenet": usenet_block}, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"], answer.text


# -------------------------------------------------------- damaged articles


def test_a_bad_crc_is_asked_of_the_next_server_and_bad_everywhere_is_a_read_error(usenet: Usenet) -> None:
    with usenet.backup() as (backup, entry):
        title = "Show.S13E02.720p.HDTV-CRC"
        video = media(title, 1_000_000)
        release = build_release([(f"{title}.mkv", video)], name=title, part_size=PART, store=usenet.store)
        ids = release.file(f"{title}.mkv").message_ids
        gateway = usenet.start_gateway(usenet=servers(usenet, providers=[usenet.primary(), entry]))
        nzo = addfile(gateway, title, release.nzb)
        assert finished(gateway, nzo)["status"] == "Completed"
        usenet.server.set_bad_crc([ids[3]])            # damaged at the primary: the backup's copy is read
        got = browse(gateway, title, f"{title}.mkv", 3 * PART - 5, 4 * PART + 5)
        assert got.status_code == 206 and got.content == video[3 * PART - 5:4 * PART + 6]
        assert ids[3] in backup.stats().served_by_id
        stats = requests.get(f"http://127.0.0.1:{gateway.port}/api/stats", timeout=10).json()["usenet"]
        assert stats["primary"]["damaged"] >= 1        # the damaged answer is counted at the primary
        health = requests.get(f"http://127.0.0.1:{gateway.port}/health", timeout=10).json()["usenet"]
        assert health["primary"]["errors"] >= stats["primary"]["damaged"] and health["backup"]["errors"] == 0
        usenet.server.set_bad_crc([ids[7]])
        backup.set_bad_crc([ids[7]])                   # damaged everywhere: an error, never wrong bytes
        bad = browse(gateway, title, f"{title}.mkv", 7 * PART + 1, 7 * PART + 50)
        assert bad.status_code == 502 and bad.content != video[7 * PART + 1:7 * PART + 51]
        # the category folder serves the job's files too (contract §4: <category>/<job>/...)
        dav = requests.get(f"http://127.0.0.1:{gateway.port}/webdav/tv/{title}/{title}.mkv",
                           headers={"Range": "bytes=0-99"}, timeout=20)
        assert dav.status_code == 206 and dav.content == video[:100]
