"""*arr queue cleanup (contract §9): only our stuck items, only after a second look, every action recorded."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from gateway.errors import ConfigError
from gateway.imports.records import AddRequest
from gateway.integrations.queuecleanup import CONFIRM_AFTER, reason_of
from tests.fakes.arr import FakeArr
from tests.integration.test_imports import magnet
from tests.support import FakeClock, infohash, start_gateway

NO_FILES = "No files found are eligible for import in /data/downloads/tv-sonarr/Show.S01E01"
BY_ID = ("Found matching series via grab history, but release was matched to series by ID. "
         "Automatic import is not possible. See the FAQ for details.")


def _gateway(emulator: Any, tmp_path: Any, sonarr: FakeArr, clock: FakeClock, **arr: Any) -> Any:
    return start_gateway(emulator, str(tmp_path / "c"), clock=clock, refresh=False, use_auth=False,
                         arrs=[{"name": "sonarr", "host": sonarr.url, "token": sonarr.api_key,
                                "queue_cleanup": True, **arr}])


def _ours(gw: Any, name: str) -> str:
    h = infohash(name)
    gw.imports.add(AddRequest(magnet=magnet(h, name), category="sonarr"))
    return h.upper()   # the *arrs keep a hash upper-case as the downloadId


def test_only_our_stuck_item_is_acted_on_after_the_second_look(emulator, tmp_path) -> None:
    clock = FakeClock()
    with FakeArr("sonarr") as sonarr:
        gw = _gateway(emulator, tmp_path, sonarr, clock)
        events: list[tuple[str, dict[str, Any]]] = []
        gw.events.subscribe(lambda name, payload: events.append((name, payload)))
        try:
            stuck, recovers = _ours(gw, "Stuck Show S01E01"), _ours(gw, "Slow Show S01E02")
            for episode in (11, 12):   # two records of one download, as Sonarr lists a pack
                sonarr.add_queue_item(stuck, status="warning", state="importPending", messages=(NO_FILES,),
                                      title="Stuck.Show.S01", episode_id=episode)
            sonarr.add_queue_item(recovers, status="warning", state="importPending", messages=(NO_FILES,),
                                  episode_id=13)
            other = sonarr.add_queue_item(infohash("someone else").upper(), client="real qbit", status="warning",
                                          state="importPending", messages=(NO_FILES,), episode_id=14)

            gw.queue_cleanup.step()   # first look: noted, nothing done
            assert sonarr.queue_removed == [] and sonarr.commands == []
            clock.advance(CONFIRM_AFTER / 2)
            gw.queue_cleanup.step()   # too soon for the confirmation
            assert sonarr.queue_removed == []

            clock.advance(CONFIRM_AFTER)
            sonarr.set_queue_status(recovers, "ok", "importing")   # the *arr got to it in between
            gw.queue_cleanup.step()

            first_id = next(iter(sonarr.queue_removed))[0]
            assert sonarr.queue_removed == [(first_id, {"removeFromClient": "true", "blocklist": "true",
                                                        "skipRedownload": "true"})]
            assert sonarr.commands == [{"name": "EpisodeSearch", "episodeIds": [11, 12]}]
            assert [r["downloadId"] for r in sonarr.queue] == [recovers, other["downloadId"]]

            listed = requests.get(f"http://127.0.0.1:{gw.port}/api/arrs/queue-cleanup", timeout=5).json()
            assert [(a["download_id"], a["reason"], a["action"], a["result"]) for a in listed["actions"]] == [
                (stuck, "no_files", "blocklist_search", "done; search 1")]
            assert [name for name, _ in events] == ["queue_cleanup"]

            clock.advance(CONFIRM_AFTER * 2)   # later looks: nothing more to do
            gw.queue_cleanup.step()
            gw.queue_cleanup.step()
            assert len(sonarr.queue_removed) == 1
        finally:
            gw.stop()


def test_rules_per_reason_remove_and_import_anyway(emulator, tmp_path) -> None:
    clock = FakeClock()
    with FakeArr("sonarr") as sonarr:
        gw = _gateway(emulator, tmp_path, sonarr, clock, queue_cleanup_action="remove",
                      queue_cleanup_rules={"wrong_release": "import"})
        try:
            sample, by_id = _ours(gw, "Sample Only S01E01"), _ours(gw, "By Id S01E02")
            sonarr.add_queue_item(sample, status="warning", state="importBlocked", messages=("Sample",))
            sonarr.add_queue_item(by_id, status="warning", state="importBlocked", messages=(BY_ID,), episode_id=2)
            sonarr.manual_candidates[by_id] = [
                {"path": "/data/By.Id.S01E02.mkv", "series": {"id": 1}, "episodes": [{"id": 2}],
                 "quality": {"quality": {"id": 3}}, "languages": [{"id": 1}], "releaseGroup": "GRP",
                 "downloadId": by_id, "rejections": []},
                {"path": "/data/readme.mkv", "rejections": [{"reason": "Unknown Series"}]}]   # not matched: left
            gw.queue_cleanup.step()
            clock.advance(CONFIRM_AFTER)
            gw.queue_cleanup.step()
            assert [flags["blocklist"] for _, flags in sonarr.queue_removed] == ["false"]
            assert sonarr.commands == [{"name": "ManualImport", "importMode": "auto", "files": [
                {"path": "/data/By.Id.S01E02.mkv", "quality": {"quality": {"id": 3}}, "languages": [{"id": 1}],
                 "releaseGroup": "GRP", "downloadId": by_id, "seriesId": 1, "episodeIds": [2]}]}]
            actions = {a["reason"]: (a["action"], a["result"]) for a in gw.queue_cleanup.actions()}
            assert actions == {"sample": ("remove", "done"), "wrong_release": ("import", "import queued (command 1)")}
        finally:
            gw.stop()


def test_an_arr_that_is_down_is_tried_again_and_nothing_else_breaks(emulator, tmp_path) -> None:
    clock = FakeClock()
    with FakeArr("sonarr") as sonarr:
        gw = _gateway(emulator, tmp_path, sonarr, clock)
        try:
            stuck = _ours(gw, "Down Show S01E01")
            sonarr.add_queue_item(stuck, status="error", state="importBlocked", messages=(NO_FILES,))
            gw.queue_cleanup.step()
            sonarr.down()
            clock.advance(CONFIRM_AFTER)
            gw.queue_cleanup.step()   # logged, no action
            sonarr.up()
            gw.queue_cleanup.step()   # the sighting is kept: confirmed now
            assert len(sonarr.queue_removed) == 1
        finally:
            gw.stop()


def test_reasons() -> None:
    def item(status: str, *messages: str) -> dict[str, Any]:
        return {"trackedDownloadStatus": status, "statusMessages": [{"title": "x", "messages": list(messages)}]}
    assert reason_of(item("warning", NO_FILES)) == "no_files"
    assert reason_of(item("warning", BY_ID)) == "wrong_release"
    assert reason_of(item("warning", "Sample")) == "sample"
    assert reason_of(item("error", "Unpacking failed, archive requires a password")) == "password"
    assert reason_of(item("warning", "Found archive file, might need to be extracted")) == "archive"
    assert reason_of(item("ok", NO_FILES)) is None                      # not stuck
    assert reason_of(item("warning", "Not an upgrade for existing episode file(s)")) is None   # left to the user


def test_config_needs_host_and_token_and_known_rules(tmp_path) -> None:
    from gateway.config import parse_config
    with pytest.raises(ConfigError, match="queue_cleanup"):
        parse_config({"arrs": [{"name": "sonarr", "queue_cleanup": True}]}, str(tmp_path))
    with pytest.raises(ConfigError, match="queue_cleanup_rules"):
        parse_config({"arrs": [{"name": "sonarr", "host": "http://a", "token": "t",
                                "queue_cleanup_rules": {"stuck": "remove"}}]}, str(tmp_path))
    cfg = parse_config({"arrs": [{"name": "sonarr", "host": "http://a", "token": "t", "queue_cleanup": True,
                                  "queue_cleanup_rules": {"sample": "remove"}}]}, str(tmp_path))
    assert cfg.arrs[0].queue_action("sample") == "remove"
    assert cfg.arrs[0].queue_action("no_files") == "blocklist_search"
