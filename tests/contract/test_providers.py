"""One contract for every provider client, over real HTTP against its emulator.

Each test runs once per provider. What differs between providers (how they
name files, whether files must be selected, how an error is enveloped) lives
in the client modules; here every provider must behave the same through the
``Provider`` interface, and the emulator's uniform control plane (catalog,
cached sets, purge, link expiry, faults) sets each scene.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from emulators.content import file_bytes
from emulators.server import KEYS, Emulator
from gateway import errors
from gateway.app import Gateway, build
from gateway.config import parse_config
from gateway.imports.torrentmeta import make_torrent_file, parse_torrent_file
from gateway.models import Torrent, TorrentStatus
from gateway.providers import Provider, build_provider
from gateway.providers.health import PROBE_EVERY
from tests.support import SAMPLE, TOKEN, TickClock, VirtualClock, expected, gateway_config, infohash, wait_until

SPARE = "spare-token"


@dataclass(frozen=True)
class Spec:
    kind: str        # the config's provider name
    list_path: str   # a regex matching the listing endpoint (where faults are injected)
    weird: Any       # a JSON body of a shape the client cannot know, at the listing endpoint
    # Emulator knobs for the answers the provider's docs show without the envelope (providers.md
    # §6.2: PM's items); the suite runs such a provider both ways.
    bare: dict[str, Any] = field(default_factory=dict)


SPECS = [
    Spec("realdebrid", r"^/rest/1\.0/torrents$", {"torrents": "not a list"}),
    Spec("alldebrid", r"^/v4(\.1)?/magnet/status", {"status": "success", "data": {"magnets": "weird"}}),
    Spec("torbox", r"^/v1/api/(torrents|usenet)/mylist", {"success": True, "error": None, "detail": "",
                                                          "data": "weird"}),
    Spec("debridlink", r"^/api/v2/seedbox/list", {"success": True, "value": "weird"}),
    Spec("premiumize", r"^/api/transfer/list", {"status": "success", "transfers": "weird"},
         bare={"pm_bare_success": True}),
]
# (spec, knobs): every provider enveloped, and again bare where its docs show that shape.
VARIANTS = [(s, {}) for s in SPECS] + [(s, s.bare) for s in SPECS if s.bare]


@pytest.fixture(params=VARIANTS, ids=[s.kind + ("-bare" if knobs else "") for s, knobs in VARIANTS])
def variant(request: pytest.FixtureRequest) -> tuple[Spec, dict[str, Any]]:
    return request.param


@pytest.fixture()
def spec(variant: tuple[Spec, dict[str, Any]]) -> Spec:
    return variant[0]


@pytest.fixture()
def emu(variant: tuple[Spec, dict[str, Any]]) -> Iterator[Emulator]:
    spec, knobs = variant
    with Emulator(rate_limit=False, knobs=knobs) as e:
        e.world.add_account(TOKEN, provider=KEYS[spec.kind])
        yield e


def client(emu: Emulator, spec: Spec, token: str = TOKEN) -> Provider:
    raw = {"debrids": [{"name": spec.kind, "provider": spec.kind, "api_key": token,
                        "api_url": emu.api_url(spec.kind), "rate_limit": "off"}]}
    return build_provider(parse_config(raw, "/tmp/contract").debrids[0], TickClock())


def downloaded(emu: Emulator, provider: Provider, torrent_id: str, rounds: int = 300) -> Torrent:
    """Poll (selecting files when asked, moving the emulator's clock) until the files are ready."""
    for _ in range(rounds):
        torrent = provider.get_torrent(torrent_id)
        if torrent.status == TorrentStatus.WAITING_SELECTION:
            provider.select_files(torrent_id, [f.id for f in torrent.files])
        elif torrent.status == TorrentStatus.DOWNLOADED and torrent.files:
            return torrent
        assert not torrent.status.failed, torrent
        emu.world.clock.advance(5.0)
    raise AssertionError(f"{torrent_id} never finished")


def read(url: str, start: int, end: int) -> bytes:
    response = requests.get(url, headers={"Range": f"bytes={start}-{end}"}, timeout=10)
    assert response.status_code == 206, (response.status_code, response.text[:200])
    return response.content


def by_path(torrent: Torrent) -> dict[str, Any]:
    return {f.path: f for f in torrent.files}


def seeded(emu: Emulator, provider: Provider) -> dict[str, Torrent]:
    emu.world.seed_library(TOKEN, SAMPLE)
    listed = provider.list_torrents()
    return {t.infohash: t for t in listed}


# ------------------------------------------------------------------ the happy path


def test_list_shows_every_torrent_with_its_files(emu: Emulator, spec: Spec) -> None:
    provider = client(emu, spec)
    assert provider.list_torrents() == []
    listed = seeded(emu, provider)
    assert set(listed) == {e["hash"] for e in SAMPLE}
    for entry in SAMPLE:
        torrent = provider.get_torrent(listed[entry["hash"]].id)
        assert torrent.status == TorrentStatus.DOWNLOADED and torrent.provider == spec.kind
        assert sorted(by_path(torrent)) == sorted(f["path"] for f in entry["files"])
        assert {f.path: f.size for f in torrent.files} == {f["path"]: f["size"] for f in entry["files"]}


def test_add_a_cached_magnet_then_read_a_range_byte_for_byte(emu: Emulator, spec: Spec) -> None:
    provider = client(emu, spec)
    entry = SAMPLE[0]
    emu.world.add_catalog(entry["hash"], entry["name"], entry["files"], cached=True, provider=KEYS[spec.kind])
    torrent_id = provider.add_magnet(f"magnet:?xt=urn:btih:{entry['hash']}&dn=x")
    torrent = downloaded(emu, provider, torrent_id)
    assert torrent.infohash == entry["hash"]
    spec_file = entry["files"][1]
    file = by_path(torrent)[spec_file["path"]]
    link = provider.unrestrict(torrent, file)
    seed = f"{entry['hash']}/{spec_file['path']}"
    assert read(link.url, 1000, 1999) == file_bytes(seed, 1000, 1000)
    assert read(link.url, spec_file["size"] - 10, spec_file["size"] - 1) == file_bytes(seed, spec_file["size"] - 10, 10)


def test_add_a_torrent_file(emu: Emulator, spec: Spec) -> None:
    provider = client(emu, spec)
    files = [("Season 9/E01.mkv", 2_000_000), ("Season 9/E02.mkv", 1_500_000)]
    data = make_torrent_file("Uploaded Show S09", files)
    infohash_ = parse_torrent_file(data).infohash
    emu.world.add_catalog(infohash_, "Uploaded Show S09", [{"path": p, "size": s} for p, s in files],
                          cached=True, provider=KEYS[spec.kind])
    torrent = downloaded(emu, provider, provider.add_torrent_file(data))
    assert torrent.infohash == infohash_
    assert sorted(f.path for f in torrent.files) == [p for p, _ in files]


def test_an_uncached_torrent_downloads_as_time_passes(emu: Emulator, spec: Spec) -> None:
    provider = client(emu, spec)
    h = infohash("slow")
    emu.world.add_catalog(h, "Slow Film 2024", [{"path": "Slow Film 2024.mkv", "size": 50 << 20}])
    torrent_id = provider.add_magnet(f"magnet:?xt=urn:btih:{h}")
    first = provider.get_torrent(torrent_id)
    assert first.status != TorrentStatus.DOWNLOADED
    torrent = downloaded(emu, provider, torrent_id)
    assert [f.path for f in torrent.files] == ["Slow Film 2024.mkv"]


def test_delete(emu: Emulator, spec: Spec) -> None:
    provider = client(emu, spec)
    listed = seeded(emu, provider)
    victim = listed[SAMPLE[1]["hash"]]
    provider.delete(victim.id)
    assert victim.id not in {t.id for t in provider.list_torrents()}
    with pytest.raises(errors.NotFound):
        provider.get_torrent(victim.id)


# ------------------------------------------------------------------- what goes wrong


def test_a_purged_file_is_reported_gone(emu: Emulator, spec: Spec) -> None:
    provider = client(emu, spec)
    listed = seeded(emu, provider)
    entry = SAMPLE[1]
    torrent = provider.get_torrent(listed[entry["hash"]].id)
    file = torrent.files[0]
    emu.world.purge(infohash=entry["hash"], provider=KEYS[spec.kind])
    try:
        link = provider.unrestrict(provider.get_torrent(torrent.id), file)
    except (errors.FileGone, errors.NotFound):
        return
    except errors.ProviderError as exc:
        raise AssertionError(f"a purged file must read as gone, got {exc!r}") from None
    assert requests.get(link.url, headers={"Range": "bytes=0-9"}, timeout=10).status_code == 404


def test_an_expired_link_is_replaced_by_a_second_unrestrict(emu: Emulator, spec: Spec) -> None:
    provider = client(emu, spec)
    listed = seeded(emu, provider)
    entry = SAMPLE[0]
    torrent = provider.get_torrent(listed[entry["hash"]].id)
    file = by_path(torrent)[entry["files"][0]["path"]]
    first = provider.unrestrict(torrent, file)
    assert read(first.url, 0, 9) == file_bytes(f"{entry['hash']}/{file.path}", 0, 10)
    assert emu.world.expire_links(provider=KEYS[spec.kind], all=True) >= 1
    assert requests.get(first.url, headers={"Range": "bytes=0-9"}, timeout=10).status_code in (403, 404, 410)
    second = provider.unrestrict(torrent, file)
    assert read(second.url, 5, 14) == file_bytes(f"{entry['hash']}/{file.path}", 5, 10)


@pytest.mark.parametrize("retry_after", ["7", None])
def test_a_429_is_waited_out_and_retried(emu: Emulator, spec: Spec, retry_after: str | None) -> None:
    provider = client(emu, spec)
    seeded(emu, provider)
    headers = {"Retry-After": retry_after} if retry_after else {}
    emu.world.add_fault({"provider": KEYS[spec.kind], "path_regex": spec.list_path, "times": 1,
                         "status": 429, "headers": headers})
    began = provider.budget._clock.monotonic()
    assert len(provider.list_torrents()) == len(SAMPLE)
    waited = provider.budget._clock.monotonic() - began
    assert provider.budget.stats()["rate_limited"] == 1
    assert waited >= (7.0 if retry_after else 1.0)


def test_a_bad_token_is_an_auth_error(emu: Emulator, spec: Spec) -> None:
    provider = client(emu, spec, token="not-a-real-key")
    with pytest.raises(errors.AuthError):
        provider.account()
    with pytest.raises(errors.AuthError):
        provider.list_torrents()


def test_a_short_outage_is_retried_and_a_long_one_reported(emu: Emulator, spec: Spec) -> None:
    provider = client(emu, spec)
    seeded(emu, provider)
    emu.world.add_fault({"provider": KEYS[spec.kind], "path_regex": spec.list_path, "times": 2, "status": 503})
    assert len(provider.list_torrents()) == len(SAMPLE)
    emu.world.add_fault({"provider": KEYS[spec.kind], "path_regex": spec.list_path, "times": 50, "status": 503})
    with pytest.raises(errors.Unavailable):
        provider.list_torrents()


def test_garbage_json_is_a_clear_provider_error(emu: Emulator, spec: Spec) -> None:
    provider = client(emu, spec)
    seeded(emu, provider)
    emu.world.add_fault({"provider": KEYS[spec.kind], "path_regex": spec.list_path, "times": 20,
                         "status": 200, "body": "<html>upstream proxy error</html>"})
    with pytest.raises(errors.Unavailable) as caught:
        provider.list_torrents()
    assert caught.value.code == "bad_json"


def test_an_unknown_shape_is_a_clear_provider_error(emu: Emulator, spec: Spec) -> None:
    provider = client(emu, spec)
    seeded(emu, provider)
    emu.world.add_fault({"provider": KEYS[spec.kind], "path_regex": spec.list_path, "times": 20,
                         "status": 200, "body": spec.weird})
    with pytest.raises(errors.Unavailable) as caught:
        provider.list_torrents()
    assert caught.value.code == "bad_shape"


def test_the_library_keeps_its_tree_through_garbage(emu: Emulator, spec: Spec, tmp_path: Any) -> None:
    emu.world.seed_library(TOKEN, SAMPLE)
    config = gateway_config(emu, str(tmp_path / "c"), debrids=[{
        "name": spec.kind, "provider": spec.kind, "api_key": TOKEN, "api_url": emu.api_url(spec.kind),
        "rate_limit": "off", "torrents_refresh_interval": "1h"}])
    gateway = build(config, TickClock()).start(serve=False, workers=False)
    try:
        gateway.refresh_now()
        names = sorted(e.name for e in gateway.vfs.listdir("/__all__"))
        assert names == sorted(e["name"] for e in SAMPLE)
        for body in ("not json", spec.weird):
            emu.world.add_fault({"provider": KEYS[spec.kind], "path_regex": spec.list_path, "times": 200,
                                 "status": 200, "body": body})
            gateway.library.syncs[spec.kind].sync_all()
            assert sorted(e.name for e in gateway.vfs.listdir("/__all__")) == names
            emu.world.clear_faults()
    finally:
        gateway.stop()


def test_an_unknown_torrent_is_not_found(emu: Emulator, spec: Spec) -> None:
    provider = client(emu, spec)
    wait_until(lambda: True)
    with pytest.raises(errors.NotFound):
        provider.get_torrent("123456789")


# ------------------------------------------------------------- a refused key (issue 15, item 1)


def _two_accounts(emu: Emulator, spec: Spec, config_dir: str, clock: Any) -> Gateway:
    """The account under test (every SAMPLE torrent) and a spare that holds SAMPLE[0] too."""
    emu.world.add_account(SPARE, provider=KEYS[spec.kind])
    emu.world.seed_library(TOKEN, SAMPLE)
    emu.world.seed_library(SPARE, SAMPLE[:1])

    def debrid(name: str, token: str) -> dict[str, Any]:
        return {"name": name, "provider": spec.kind, "api_key": token, "api_url": emu.api_url(spec.kind),
                "rate_limit": "off", "torrents_refresh_interval": "2s"}
    config = gateway_config(emu, config_dir, debrids=[debrid(spec.kind, TOKEN), debrid("spare", SPARE)])
    gateway = build(config, clock).start(serve=False, workers=False)
    gateway.refresh_now()
    return gateway


def _calls_of(emu: Emulator, token: str, since: int) -> list[float]:
    return [e["t"] for e in emu.world.log(since=since) if e["token"] == token]


def test_a_refused_key_disables_the_account_until_a_probe_passes(emu: Emulator, spec: Spec, tmp_path: Any) -> None:
    clock = VirtualClock(emu.world.clock)
    gateway = _two_accounts(emu, spec, str(tmp_path / "c"), clock)
    try:
        sync, health = gateway.library.syncs[spec.kind], gateway.providers[spec.kind].health
        emu.world.revoke(TOKEN)
        mark = emu.world.log_mark()
        for _ in range(900):   # 30 virtual minutes of a 2 s refresh interval
            sync.step()
            clock.advance(2.0)
        assert health.disabled and health.reason == "key refused"
        times = _calls_of(emu, TOKEN, mark)
        assert 1 <= len(times) <= 1 + 1800 // PROBE_EVERY, times   # the refusal, then one probe per interval
        assert all(later - earlier >= PROBE_EVERY for earlier, later in itertools.pairwise(times)), times

        # Reads: the copy at the spare account serves; a file only the refused account holds fails
        # at once, without a call to it.
        mark = emu.world.log_mark()
        shared = SAMPLE[0]
        snapshot = gateway.library.snapshot()

        def own_folder(entry: dict[str, Any]) -> str:   # the refused account's folder of ``entry``
            return next(name for key, name in snapshot.folders.items()
                        if key[0] == spec.kind and snapshot.torrents[key].infohash == entry["hash"])
        handle = gateway.vfs.open(f"/__all__/{own_folder(shared)}/{shared['files'][0]['path']}")
        assert handle.pread(100, 1000) == expected(shared, shared["files"][0]["path"], 100, 1000)
        handle.close()
        assert _calls_of(emu, SPARE, mark)   # the spare account made the link
        alone = SAMPLE[1]
        with pytest.raises(errors.AuthError) as caught:
            gateway.vfs.link(f"/__all__/{own_folder(alone)}/{alone['files'][0]['path']}")
        assert caught.value.code == "account_disabled"
        assert _calls_of(emu, TOKEN, mark) == []

        # The key is valid again: the next probe enables the account and the listing resumes.
        emu.world.revoke(TOKEN, False)
        listed = sync.calls["listing"]
        for _ in range(int(PROBE_EVERY // 2) + 1):
            sync.step()
            if not health.disabled:
                break
            clock.advance(2.0)
        assert not health.disabled
        assert sync.calls["listing"] == listed + 1 and sync.error == ""   # listed in the same step
    finally:
        gateway.stop()
