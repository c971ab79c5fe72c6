"""The same tree, byte for byte, through the VFS, WebDAV (raw HTTP) and the browse API."""

from __future__ import annotations

import random
from urllib.parse import quote, unquote
from xml.etree import ElementTree

import requests

from tests.support import SAMPLE, expected

DAV = "{DAV:}"


def base(gw) -> str:
    return f"http://127.0.0.1:{gw.port}"


def sample_files() -> list[tuple[dict, str, int]]:
    return [(e, f["path"], f["size"]) for e in SAMPLE for f in e["files"]]


def folder(gw, entry) -> str:
    """The torrent folder name the gateway gave a SAMPLE entry."""
    snapshot = gw.library.snapshot()
    return next(name for key, name in snapshot.folders.items()
                if snapshot.torrents[key].infohash == entry["hash"])


def propfind(url: str, depth: str = "1", body: bytes = b"") -> requests.Response:
    return requests.request("PROPFIND", url, headers={"Depth": depth}, data=body, timeout=10)


def test_vfs_lists_groups_and_files(gateway) -> None:
    names = [e.name for e in gateway.vfs.listdir("/")]
    assert names[:2] == ["__all__", "__bad__"] or set(names) >= {"__all__", "__bad__", "sonarr", "radarr"}
    torrents = gateway.vfs.listdir("/__all__")
    assert len(torrents) == len(SAMPLE)
    for entry, path, size in sample_files():
        stat = gateway.vfs.stat(f"/__all__/{folder(gateway, entry)}/{path}")
        assert stat.size == size and not stat.is_dir
        assert stat.mtime > 1_600_000_000   # the provider's added time, not "now"


def test_vfs_reads_match_emulator(gateway) -> None:
    rng = random.Random(7)
    for entry, path, size in sample_files():
        handle = gateway.vfs.open(f"/__all__/{folder(gateway, entry)}/{path}")
        assert handle.read() == expected(entry, path)
        for _ in range(5):
            offset = rng.randrange(size)
            length = rng.randrange(1, 200_000)
            assert handle.pread(offset, length) == expected(entry, path, offset, length)
        handle.close()


def test_webdav_propfind_matches_vfs(gateway) -> None:
    response = propfind(f"{base(gateway)}/webdav/__all__/")
    assert response.status_code == 207
    tree = ElementTree.fromstring(response.content)
    hrefs = [unquote(r.findtext(f"{DAV}href")) for r in tree.findall(f"{DAV}response")]
    assert hrefs[0] == "/webdav/__all__/"
    listed = sorted(h.rstrip("/").rsplit("/", 1)[-1] for h in hrefs[1:])
    assert listed == sorted(e.name for e in gateway.vfs.listdir("/__all__"))
    for entry, path, size in sample_files():
        url = f"{base(gateway)}/webdav/__all__/{quote(folder(gateway, entry))}/{quote(path)}"
        one = ElementTree.fromstring(propfind(url, "0").content)
        prop = one.find(f"{DAV}response/{DAV}propstat/{DAV}prop")
        assert int(prop.findtext(f"{DAV}getcontentlength")) == size
        assert prop.findtext(f"{DAV}getlastmodified").endswith("GMT")
        assert prop.findtext(f"{DAV}getetag").startswith('"')
        assert prop.findtext(f"{DAV}getcontenttype")


def test_webdav_get_full_and_ranges(gateway) -> None:
    rng = random.Random(3)
    for entry, path, size in sample_files():
        url = f"{base(gateway)}/webdav/__all__/{quote(folder(gateway, entry))}/{quote(path)}"
        full = requests.get(url, timeout=30)
        assert full.status_code == 200 and full.content == expected(entry, path)
        etag = full.headers["ETag"]
        assert requests.head(url, timeout=10).headers["ETag"] == etag   # stable
        offset = rng.randrange(size)
        end = min(size - 1, offset + rng.randrange(100_000))
        part = requests.get(url, headers={"Range": f"bytes={offset}-{end}"}, timeout=30)
        assert part.status_code == 206
        assert part.headers["Content-Range"] == f"bytes {offset}-{end}/{size}"
        assert part.content == expected(entry, path, offset, end - offset + 1)


def test_browse_api_matches_vfs(gateway) -> None:
    root = requests.get(f"{base(gateway)}/api/browse/", timeout=10).json()
    assert [g["name"] for g in root["groups"]] == [e.name for e in gateway.vfs.listdir("/")]
    group = requests.get(f"{base(gateway)}/api/browse/__all__", timeout=10).json()
    assert group["total"] == len(SAMPLE)
    for entry in SAMPLE:
        name = folder(gateway, entry)
        listing = requests.get(f"{base(gateway)}/api/browse/__all__/{quote(name)}", timeout=10).json()
        files = {f["path"]: f for f in listing["files"]}
        assert {p: f["size"] for p, f in files.items()} == {f["path"]: f["size"] for f in entry["files"]}
        for path, info in files.items():
            body = requests.get(f"{base(gateway)}{info['download']}", timeout=30)
            assert body.status_code == 200 and body.content == expected(entry, path)
            size = info["size"]
            tail = requests.get(f"{base(gateway)}{info['download']}", headers={"Range": "bytes=-5"}, timeout=10)
            assert tail.status_code == 206
            assert tail.content == expected(entry, path, max(0, size - 5))


def test_browse_paging_sorting_search(gateway) -> None:
    url = f"{base(gateway)}/api/browse/__all__"
    page = requests.get(url, params={"limit": 2, "page": 2, "sort_by": "size", "sort_order": "desc"}, timeout=10).json()
    by_size = sorted(gateway.vfs.listdir("/__all__"), key=lambda e: e.size, reverse=True)
    assert [t["name"] for t in page["torrents"]] == [e.name for e in by_size[2:4]]
    found = requests.get(url, params={"search": "amélie"}, timeout=10).json()
    assert [t["name"] for t in found["torrents"]] == [folder(gateway, SAMPLE[1])]


def test_browse_redirect_points_at_live_cdn(gateway) -> None:
    entry, path = SAMPLE[1], SAMPLE[1]["files"][0]["path"]
    url = f"{base(gateway)}/api/browse/download/{quote(folder(gateway, entry))}/{quote(path)}?redirect=1"
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302
    direct = requests.get(response.headers["Location"], headers={"Range": "bytes=0-99"}, timeout=10)
    assert direct.content == expected(entry, path, 0, 100)


def test_webdav_delete_removes_torrent_at_provider(gateway, emulator) -> None:
    entry = SAMPLE[3]
    name = folder(gateway, entry)
    assert len(emulator.world.list_torrents("test-token")) == len(SAMPLE)
    response = requests.delete(f"{base(gateway)}/webdav/__all__/{quote(name)}", timeout=10)
    assert response.status_code == 204
    assert name not in [e.name for e in gateway.vfs.listdir("/__all__")]
    assert entry["hash"] not in [t.hash for t in emulator.world.list_torrents("test-token")]
    listing = propfind(f"{base(gateway)}/webdav/__all__/").content.decode()
    assert quote(name) not in listing
    assert requests.delete(f"{base(gateway)}/webdav/__all__/{quote(name)}", timeout=10).status_code == 404


def test_url_base_prefixes_every_route(emulator, tmp_path) -> None:
    from tests.support import start_gateway

    gw = start_gateway(emulator, str(tmp_path / "c"), url_base="/dx/")
    try:
        b = base(gw)
        tree = ElementTree.fromstring(propfind(f"{b}/dx/webdav/__all__/").content)
        hrefs = [r.findtext(f"{DAV}href") for r in tree.findall(f"{DAV}response")]
        assert all(h.startswith("/dx/webdav/__all__/") for h in hrefs) and len(hrefs) == len(SAMPLE) + 1
        for href in hrefs[1:]:   # percent-encoded names round-trip to real folders
            assert propfind(f"{b}{href}", "0").status_code == 207
        assert requests.get(f"{b}/dx/api/browse/", timeout=10).status_code == 200
        assert requests.get(f"{b}/dx/version", timeout=10).json()["version"]
    finally:
        gw.stop()


def test_bounded_ranges_ask_upstream_for_no_more(gateway, emulator) -> None:
    entry, path = SAMPLE[0], SAMPLE[0]["files"][0]["path"]
    name = quote(folder(gateway, entry))
    urls = [f"{base(gateway)}/webdav/__all__/{name}/{quote(path)}",
            f"{base(gateway)}/api/browse/download/{name}/{quote(path)}"]
    for url in urls:
        mark = emulator.world.log_mark()
        part = requests.get(url, headers={"Range": "bytes=1000-2999"}, timeout=10)
        assert part.content == expected(entry, path, 1000, 2000)
        cdn = [e for e in emulator.world.log(since=mark) if e["path"].startswith("/cdn/")]
        assert [e["range"] for e in cdn] == ["bytes=1000-2999"], url
