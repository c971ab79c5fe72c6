"""The *arr client against stand-in Sonarr and Radarr servers, over real HTTP."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.arr.client import ArrClient, ArrTarget
from gateway.arr.models import Grab, MediaFile
from gateway.errors import AuthError, BadRequest, NotFound, RateLimited, Unavailable
from tests.fakes.arr import FakeArr
from tests.support import wait_until

KEY = "arr-key"


@pytest.fixture()
def client() -> Iterator[ArrClient]:
    c = ArrClient()
    yield c
    c.close()


@pytest.fixture()
def sonarr(tmp_path: Path) -> Iterator[FakeArr]:
    with FakeArr("sonarr", KEY) as fake:
        fake.add_series(1, "Show", str(tmp_path / "Show"))
        fake.add_series(2, "Other", str(tmp_path / "Other"))
        yield fake


@pytest.fixture()
def radarr() -> Iterator[FakeArr]:
    with FakeArr("radarr", KEY) as fake:
        fake.add_movie(10, "Film", 2020, "/movies/Film (2020)", file_id=100,
                       file_path="/movies/Film (2020)/Film.mkv", size=7)
        fake.add_movie(11, "Wanted", 2021, "/movies/Wanted (2021)")
        yield fake


def _target(fake: FakeArr, key: str = KEY) -> ArrTarget:
    return ArrTarget(fake.kind, fake.url, key)


def _touch(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return str(path)


# -- status ----------------------------------------------------------------------------------------

def test_status_and_kind(client: ArrClient, sonarr: FakeArr, radarr: FakeArr) -> None:
    assert client.status(_target(sonarr))["appName"] == "Sonarr"
    assert client.kind_of(_target(sonarr)) == "sonarr"
    assert client.kind_of(_target(radarr)) == "radarr"
    sonarr.fail("system/status", 200, body='{"appName": "Lidarr"}')
    with pytest.raises(BadRequest):
        client.kind_of(_target(sonarr))
    assert sonarr.requests[0][:2] == ("GET", "/api/v3/system/status")


def test_system_status_still_returns_none_on_failure(client: ArrClient, sonarr: FakeArr) -> None:
    assert client.system_status(_target(sonarr, "wrong")) is None
    sonarr.down()
    assert client.system_status(_target(sonarr)) is None
    sonarr.up()
    assert client.system_status(_target(sonarr)) == client.status(_target(sonarr))
    assert client.refresh_monitored_downloads(_target(sonarr)) is True
    assert sonarr.commands == [{"name": "RefreshMonitoredDownloads"}]


# -- media files -----------------------------------------------------------------------------------

def test_sonarr_media_files(client: ArrClient, sonarr: FakeArr, tmp_path: Path) -> None:
    single = sonarr.add_episode_file(1, 5, str(tmp_path / "Show/Season 1/Show.S01E01.mkv"), 1, [1], size=11)
    double = sonarr.add_episode_file(1, 6, str(tmp_path / "Show/Season 1/Show.S01E02E03.mkv"), 1, [2, 3], size=22)
    other = sonarr.add_episode_file(2, 7, str(tmp_path / "Other/Season 2/Other.S02E10.mkv"), 2, [10])
    files = client.media_files(_target(sonarr), "sonarr")
    assert sorted(files, key=lambda f: f.file_id) == [
        MediaFile("sonarr", "sonarr", 1, "Show S01E01", 5, str(tmp_path / "Show/Season 1/Show.S01E01.mkv"),
                  tuple(single), 11),
        MediaFile("sonarr", "sonarr", 1, "Show S01E02E03", 6, str(tmp_path / "Show/Season 1/Show.S01E02E03.mkv"),
                  tuple(double), 22),
        MediaFile("sonarr", "sonarr", 2, "Other S02E10", 7, str(tmp_path / "Other/Season 2/Other.S02E10.mkv"),
                  tuple(other), 0),
    ]
    assert len(double) == 2
    only = client.media_files(_target(sonarr), "sonarr", [2, 99])   # an unknown id is skipped
    assert [f.file_id for f in only] == [7]
    paths = [(m, p) for m, p, _, _ in sonarr.requests]
    assert ("GET", "/api/v3/series/2") in paths and ("GET", "/api/v3/series/99") in paths
    assert any(q == {"seriesId": "2"} for m, p, q, _ in sonarr.requests if p == "/api/v3/episodefile")


def test_radarr_media_files(client: ArrClient, radarr: FakeArr) -> None:
    film = MediaFile("radarr", "radarr", 10, "Film (2020)", 100, "/movies/Film (2020)/Film.mkv", (), 7)
    assert client.media_files(_target(radarr), "radarr") == [film]
    assert client.media_files(_target(radarr), "radarr", [10]) == [film]
    assert client.media_files(_target(radarr), "radarr", [11]) == []


def test_file_exists(client: ArrClient, sonarr: FakeArr, radarr: FakeArr) -> None:
    sonarr.add_episode_file(1, 5, "/tv/Show/S01E01.mkv", 1, [1])
    assert client.file_exists(_target(sonarr), "sonarr", 5)
    assert not client.file_exists(_target(sonarr), "sonarr", 6)
    assert client.file_exists(_target(radarr), "radarr", 100)
    assert not client.file_exists(_target(radarr), "radarr", 101)


# -- history ---------------------------------------------------------------------------------------

def test_grabs_pages_through_history(client: ArrClient, sonarr: FakeArr) -> None:
    e1, e2 = sonarr.add_episode_file(1, 5, "/tv/Show/S01E01E02.mkv", 1, [1, 2])
    (e3,) = sonarr.add_episode_file(1, 6, "/tv/Show/S01E03.mkv", 1, [3])
    wanted: list[int] = []
    for n in range(250):
        if n % 10 == 0:
            wanted.append(sonarr.add_grab(f"ABCDEF{n:04d}", episode_ids=[e1]))
        elif n % 10 == 1:
            sonarr.add_history("downloadFolderImported", f"ABCDEF{n:04d}", [e1])
        else:
            sonarr.add_grab(f"FFFF{n:04d}", episode_ids=[e3])
    wanted.append(sonarr.add_grab("CAFE", episode_ids=[e2]))
    file = client.media_files(_target(sonarr), "sonarr", [1])[0]
    assert file.episode_ids == (e1, e2)
    grabs = client.grabs(_target(sonarr), file)
    assert [g.history_id for g in grabs] == sorted(wanted, reverse=True)
    assert grabs[0] == Grab(wanted[-1], "cafe", grabs[0].date, 1, e2)
    assert all(g.download_id == g.download_id.lower() for g in grabs)
    assert grabs[-1].download_id == "abcdef0000"
    history = [q for m, p, q, _ in sonarr.requests if p == "/api/v3/history"]
    assert all(q["eventType"] == "1" and q["pageSize"] == "100" and q["sortDirection"] == "descending"
               for q in history)
    assert {q["episodeId"] for q in history} == {str(e1), str(e2)}


def test_grabs_reads_every_page(client: ArrClient, radarr: FakeArr) -> None:
    ids = [radarr.add_grab(f"HASH{n:04d}", movie_id=10) for n in range(250)]
    radarr.add_grab("ELSEWHERE", movie_id=11)
    file = client.media_files(_target(radarr), "radarr", [10])[0]
    grabs = client.grabs(_target(radarr), file)
    assert [g.history_id for g in grabs] == ids[::-1]
    assert grabs[0].download_id == "hash0249" and grabs[0].media_id == 10 and grabs[0].episode_id == 0
    pages = [q["page"] for m, p, q, _ in radarr.requests if p == "/api/v3/history"]
    assert pages == ["1", "2", "3"]


def test_mark_failed(client: ArrClient, radarr: FakeArr) -> None:
    history_id = radarr.add_grab("ABC", movie_id=10)
    client.mark_failed(_target(radarr), history_id)
    assert radarr.failed == [history_id]
    assert radarr.requests[-1][:2] == ("POST", f"/api/v3/history/failed/{history_id}")
    with pytest.raises(NotFound):
        client.mark_failed(_target(radarr), 999)


# -- deletes ---------------------------------------------------------------------------------------

def test_delete_single(client: ArrClient, sonarr: FakeArr, tmp_path: Path) -> None:
    path = _touch(tmp_path / "Show/S01E01.mkv")
    sonarr.add_episode_file(1, 5, path, 1, [1])
    client.delete_file(_target(sonarr), "sonarr", 5)
    client.delete_file(_target(sonarr), "sonarr", 5)   # already gone: no error
    assert sonarr.deleted == [5]
    assert not os.path.lexists(path)
    assert not client.file_exists(_target(sonarr), "sonarr", 5)
    assert not any(e["hasFile"] for e in sonarr.episodes.values())


def test_delete_removes_a_symlink(client: ArrClient, radarr: FakeArr, tmp_path: Path) -> None:
    link = tmp_path / "Film.mkv"
    link.symlink_to(tmp_path / "missing-target")
    radarr.add_movie(12, "Linked", 2022, str(tmp_path), file_id=120, file_path=str(link))
    client.delete_file(_target(radarr), "radarr", 120)
    assert not os.path.lexists(link)
    assert radarr.deleted == [120]
    assert client.media_files(_target(radarr), "radarr", [12]) == []


def test_delete_bulk(client: ArrClient, sonarr: FakeArr, radarr: FakeArr) -> None:
    sonarr.add_episode_file(1, 5, "/nowhere/a.mkv", 1, [1])
    sonarr.add_episode_file(1, 6, "/nowhere/b.mkv", 1, [2])
    client.delete_files(_target(sonarr), "sonarr", [5, 6])
    assert sonarr.requests[-1][1:] == ("/api/v3/episodefile/bulk", {}, {"episodeFileIds": [5, 6]})
    assert sonarr.deleted == [5, 6]
    client.delete_files(_target(radarr), "radarr", [100])
    assert radarr.requests[-1][:2] == ("DELETE", "/api/v3/moviefile/bulk")
    assert radarr.requests[-1][3] == {"movieFileIds": [100]}
    assert radarr.deleted == [100]


# -- commands --------------------------------------------------------------------------------------

def test_search_and_rescan(client: ArrClient, sonarr: FakeArr, radarr: FakeArr) -> None:
    sonarr.add_episode_file(1, 5, "/tv/Show/S01E02E03.mkv", 1, [2, 3])
    episode = client.media_files(_target(sonarr), "sonarr")[0]
    movie = client.media_files(_target(radarr), "radarr")[0]
    assert client.search(_target(sonarr), episode) == 1
    assert client.rescan(_target(sonarr), episode) == 2
    client.search(_target(radarr), movie)
    client.rescan(_target(radarr), movie)
    assert sonarr.commands == [{"name": "EpisodeSearch", "episodeIds": list(episode.episode_ids)},
                               {"name": "RescanSeries", "seriesId": 1}]
    assert radarr.commands == [{"name": "MoviesSearch", "movieIds": [10]}, {"name": "RescanMovie", "movieId": 10}]
    assert client.command(_target(radarr), "RefreshMovie", movieIds=[10]) == 3


# -- errors ----------------------------------------------------------------------------------------

def test_error_mapping(client: ArrClient, sonarr: FakeArr, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    target = _target(sonarr)
    with pytest.raises(AuthError):
        client.status(_target(sonarr, "not-the-key"))
    sonarr.fail("series", 503)
    with pytest.raises(Unavailable) as unavailable:
        client.media_files(target, "sonarr")
    assert unavailable.value.code == "503"
    sonarr.fail("series", 429, retry_after=7)
    with pytest.raises(RateLimited) as limited:
        client.media_files(target, "sonarr")
    assert limited.value.retry_after == 7
    sonarr.fail("command", 400, method="POST")
    with pytest.raises(BadRequest):
        client.command(target, "Nope")
    sonarr.fail("system/status", 200, body="<html>login</html>")
    with pytest.raises(Unavailable) as garbled:
        client.status(target)
    assert garbled.value.code == "bad_json"
    sonarr.fail("history", 200, body='["not", "a", "page"]')
    with pytest.raises(Unavailable) as shaped:
        client.grabs(target, MediaFile("sonarr", "sonarr", 1, "Show S01E01", 5, "/x", (1,)))
    assert shaped.value.code == "bad_shape"
    sonarr.down()
    with pytest.raises(Unavailable):
        client.file_exists(target, "sonarr", 5)
    sonarr.up()
    assert client.status(target)["appName"] == "Sonarr"
    assert "not-the-key" not in caplog.text and KEY not in caplog.text


def test_connection_refused_is_unavailable(client: ArrClient) -> None:
    fake = FakeArr("radarr").start()
    url = fake.url
    fake.stop()
    with pytest.raises(Unavailable) as refused:
        client.status(ArrTarget("gone", url, KEY))
    assert refused.value.code == "connect"


def test_hang_blocks_until_release(client: ArrClient, radarr: FakeArr) -> None:
    radarr.hang("movie$")
    answers: list[list[MediaFile]] = []
    worker = threading.Thread(target=lambda: answers.append(client.media_files(_target(radarr), "radarr")))
    worker.start()
    wait_until(lambda: radarr.hanging == 1, 5, "a request hanging")
    assert not answers
    radarr.release()
    worker.join(5)
    assert [f.file_id for f in answers[0]] == [100]
    assert radarr.hanging == 0


def test_read_timeout_is_unavailable(client: ArrClient, sonarr: FakeArr, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.arr.client.TIMEOUT", (2.0, 0.3))
    sonarr.hang("system/status")
    with pytest.raises(Unavailable) as slow:
        client.status(_target(sonarr))
    assert slow.value.code == "timeout"
    sonarr.release()
    assert client.kind_of(_target(sonarr)) == "sonarr"
