"""The library index in the store: files kept as text until used, older rows still read."""

from __future__ import annotations

import json

from gateway.models import RemoteFile, StoredFiles, Torrent, TorrentStatus
from gateway.store import Store

FILES = (RemoteFile(1, "Season 1/e1.mkv", 300, True, "l1"), RemoteFile(2, "notes\n.nfo", 20, False, ""),
         RemoteFile(3, "Season 1/e2.mkv", 400, True, "l3"))
TORRENT = Torrent(provider="rd", id="T1", infohash="a" * 40, name="Show\nS01", size=700,
                  status=TorrentStatus.DOWNLOADED, progress=1.0, added=1_700_000_000.0, files=FILES,
                  links=("l1", "l3"))


def test_files_stay_text_until_used(tmp_path) -> None:
    store = Store(tmp_path / "d.db")
    store.apply_library([TORRENT])
    [loaded] = store.load_library()
    files = loaded.files
    assert isinstance(files, StoredFiles) and files._files is None
    assert len(files) == 3 and bool(files) and files.shown == (700, 2)
    assert files._files is None            # length and the folder summary cost no decoding
    assert loaded == TORRENT and tuple(files) == FILES and files[1].path == "notes\n.nfo"
    store.apply_library([], [TORRENT.key])
    assert store.load_library() == []


def test_rows_of_the_earlier_format_still_load(tmp_path) -> None:
    store = Store(tmp_path / "d.db")
    old = {"provider": "rd", "id": "T1", "infohash": "a" * 40, "name": "Show\nS01", "size": 700,
           "status": "downloaded", "progress": 1.0, "added": 1_700_000_000.0, "links": ["l1", "l3"],
           "files": [[f.id, f.path, f.size, int(f.selected), f.link] for f in FILES]}
    with store.transaction() as conn:
        conn.execute("INSERT INTO library_torrents (provider, id, data) VALUES (?, ?, ?)",
                     ("rd", "T1", json.dumps(old)))
    assert store.load_library() == [TORRENT]
