"""A browser's GET of a WebDAV folder: an HTML page whose links lead back into the tree.

Every link is followed: folders answer HTML again, files their bytes. Names
are escaped in the page and percent-encoded per segment in the links, under
the mount path (which carries url_base). PROPFIND is untouched.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urljoin

import requests

from tests.integration.test_tree import base, folder, propfind
from tests.support import SAMPLE, TOKEN, expected, infohash, start_gateway

NASTY = {"hash": infohash("nasty"), "name": '<script>alert(1) & "quoted" %41 it',
         "files": [{"path": '<b>bold & "q" %41.mkv', "size": 5000},
                   {"path": "sub %2F dir/x&y.mkv", "size": 300}],
         "added": "2024-04-01T12:00:00.000Z"}


class Links(HTMLParser):
    """(href, text) of every <a> in a page, the text unescaped as a browser shows it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text)))
            self._href = None


def page(url: str, **kwargs: Any) -> tuple[requests.Response, list[tuple[str, str]]]:
    """GET a folder page: 200 HTML, and its links (the parent link '../' first when there is one)."""
    answer = requests.get(url, timeout=10, **kwargs)
    assert answer.status_code == 200, (url, answer.status_code, answer.text[:200])
    assert answer.headers["Content-Type"].startswith("text/html"), url
    parser = Links()
    parser.feed(answer.text)
    return answer, parser.links


def members(links: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(href, text) for href, text in links if text != "../"]


def sample_file(entry: dict[str, Any], folder_name: str, href: str) -> str:
    """The SAMPLE path of the file a link under ``__all__/{folder_name}/`` names."""
    marker = "/__all__/"
    parts = [unquote(p) for p in href[href.index(marker) + len(marker):].split("/")]
    assert parts[0] == folder_name, (href, folder_name)
    return "/".join(parts[1:])


def check_file(url: str, entry: dict[str, Any], path: str, **kwargs: Any) -> None:
    with requests.get(url, stream=True, timeout=10, **kwargs) as answer:
        assert answer.status_code == 200, (url, answer.status_code)
        first = answer.raw.read(100)
    assert first == expected(entry, path, 0, 100), url


def crawl_torrent(root: str, gw: Any, entry: dict[str, Any], dav: str = "/webdav", **kwargs: Any) -> int:
    """From ``{dav}/__all__/``, follow every link below a torrent folder; how many files were read."""
    name = folder(gw, entry)
    pending = [f"{root}{dav}/__all__/"]
    _, links = page(pending[0], **kwargs)
    (href, text), = [(h, t) for h, t in members(links) if t == name + "/"]
    pending = [urljoin(root, href)]
    read = 0
    while pending:
        url = pending.pop()
        _, links = page(url, **kwargs)
        assert links[0][1] == "../"
        for href, text in members(links):
            target = urljoin(root, href)
            if text.endswith("/"):
                pending.append(target)
            else:
                path = sample_file(entry, name, href)
                assert path.rsplit("/", 1)[-1] == text
                check_file(target, entry, path, **kwargs)
                read += 1
    return read


def test_root_and_torrent_pages_link_into_the_tree(gateway) -> None:
    b = base(gateway)
    answer, links = page(f"{b}/webdav/")
    assert "../" not in [text for _, text in links]   # the root has no parent
    groups = {text: href for href, text in links}
    assert groups["__all__/"] == "/webdav/__all__/"
    for href in groups.values():
        page(urljoin(b, href))   # every group answers its own page
    for entry in SAMPLE:
        assert crawl_torrent(b, gateway, entry) == len(entry["files"]), entry["name"]


def test_folders_come_first_with_sizes_dates_and_parent(gateway) -> None:
    b = base(gateway)
    spirited = next(e for e in SAMPLE if "Spirited" in e["name"])
    name = folder(gateway, spirited)
    answer, links = page(f"{b}/webdav/__all__/{requests.utils.quote(name, safe='')}/")
    assert links[0] == ("/webdav/__all__/", "../")
    assert [text for _, text in members(links)] == ["extras/", "千と千尋の神隠し.mp4"]
    assert "1.0 MiB" in answer.text and 'title="1048577 bytes"' in answer.text
    assert "2024-01-15 08:30:00 UTC" in answer.text
    _, inner = page(urljoin(b, members(links)[0][0]))
    assert [text for _, text in members(inner)] == ["making of #1 & 100%.mkv"]
    assert "making of #1 &amp; 100%.mkv" in requests.get(urljoin(b, members(links)[0][0]), timeout=10).text


def test_head_of_a_folder_is_the_page_without_body(gateway) -> None:
    url = f"{base(gateway)}/webdav/__all__/"
    got = requests.get(url, timeout=10)
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Type"].startswith("text/html")
    assert head.headers["Content-Length"] == str(len(got.content))


def test_names_are_escaped_and_their_links_work(emulator, gateway) -> None:
    emulator.world.seed_library(TOKEN, [NASTY])
    gateway.refresh_now()
    name = folder(gateway, NASTY)
    assert "<script>" in name and "&" in name and '"' in name and "%41" in name   # the gateway kept them
    b = base(gateway)
    answer, links = page(f"{b}/webdav/__all__/")
    assert "<script>" not in answer.text   # only ever as &lt;script&gt;
    assert "&lt;script&gt;alert(1) &amp; &quot;quoted&quot; %41 it/" in answer.text
    (href, _), = [(h, t) for h, t in members(links) if t == name + "/"]
    assert "%2541" in href and "%3C" in href and "%22" in href and "%26" in href
    assert crawl_torrent(b, gateway, NASTY) == 2
    # the torrent folder's own page shows its name escaped in the title and heading
    inner = requests.get(urljoin(b, href), timeout=10).text
    assert "<script>" not in inner and "<b>bold" not in inner and "&lt;b&gt;bold &amp; &quot;q&quot; %41.mkv" in inner
    # PROPFIND finds the same entry under the same link
    listing = propfind(urljoin(b, href), "1")
    assert listing.status_code == 207


def test_links_carry_url_base(emulator, tmp_path) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), url_base="/base")
    try:
        b = base(gw)
        _, links = page(f"{b}/base/webdav/")
        assert links and all(href.startswith("/base/webdav/") for href, _ in links)
        _, inner = page(urljoin(b, dict((t, h) for h, t in links)["__all__/"]))
        assert inner[0] == ("/base/webdav/", "../")
        assert all(href.startswith("/base/webdav/__all__/") for href, _ in members(inner))
        entry = SAMPLE[0]
        _, torrent = page(urljoin(b, dict((t, h) for h, t in inner)[folder(gw, entry) + "/"]))
        assert torrent[0] == ("/base/webdav/__all__/", "../")
        assert requests.get(f"{b}/webdav/", timeout=10).status_code == 404   # only under url_base
    finally:
        gw.stop()


def test_page_needs_basic_auth_when_webdav_auth_is_on(emulator, tmp_path) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), enable_webdav_auth=True)
    try:
        gw.auth.setup("u", "password1")
        url = f"{base(gw)}/webdav/"
        refused = requests.get(url, timeout=10)
        assert refused.status_code == 401 and "Basic" in refused.headers["WWW-Authenticate"]
        assert requests.get(url, auth=("u", "wrong password"), timeout=10).status_code == 401
        assert requests.head(f"{url}__all__/", timeout=10).status_code == 401
        answer, links = page(url, auth=("u", "password1"))
        assert "__all__/" in [text for _, text in links]
        assert crawl_torrent(base(gw), gw, SAMPLE[1], auth=("u", "password1")) == 1
        assert requests.request("PROPFIND", url, headers={"Depth": "1"}, timeout=10).status_code == 401
        ok = requests.request("PROPFIND", url, headers={"Depth": "1"}, auth=("u", "password1"), timeout=10)
        assert ok.status_code == 207
    finally:
        gw.stop()


def test_propfind_still_answers_multistatus(gateway) -> None:
    b = base(gateway)
    assert propfind(f"{b}/webdav/", "1").status_code == 207
    assert propfind(f"{b}/webdav/__all__/", "0").status_code == 207
