"""Sonarr's SABnzbd sequence against the gateway reading from the NNTP emulator (contract §8):
a multi-volume 7z Copy set and an obfuscated RAR set named from its PAR2 index reach
``Completed``, read byte for byte, and SAB's history delete removes the job's files from the
tree and its stored layout."""

from __future__ import annotations

import os

import requests

from emulators.archives import write_rar
from emulators.usenet.release import build_release
from emulators.usenet.sevenzip import sevenzip_set
from gateway.app import Gateway
from tests.integration.test_usenet import PART, Usenet, addfile, browse, check_reads, finished, media, sab, usenet

__all__ = ["usenet"]   # the fixture, imported for pytest
NZO_PREFIX = "SABnzbd_nzo_"


def gone_everywhere(gateway: Gateway, nzo: str, folder: str, path: str) -> None:
    """The job's files left the tree (browse and WebDAV) and its layout left the database."""
    assert browse(gateway, folder, path).status_code == 404
    dav = requests.get(f"http://127.0.0.1:{gateway.port}/webdav/__all__/{folder}/{path}", timeout=10)
    assert dav.status_code == 404
    assert gateway.usenet_files is not None
    assert nzo.removeprefix(NZO_PREFIX) not in gateway.usenet_files.layouts.jobs()


def test_sonarr_sequence_with_a_7z_set_and_an_obfuscated_rar_set(usenet: Usenet) -> None:
    seven, obf = "Show.S09E01.1080p.WEB-7Z", "Show.S09E02.1080p.WEB-OBF"
    video7, video_obf = media(seven, 1_300_000), media(obf, 1_100_000)
    volumes7 = sevenzip_set(seven, [(f"{seven}.mkv", video7)], volume_size=350_000)
    rar = write_rar([(f"{obf}.mkv", video_obf), (f"{obf}.nfo", b"nfo")], version=5, base=obf,
                    volume_data=300_000)
    assert len(volumes7) >= 3 and len(rar) >= 3
    release7 = build_release(volumes7, name=seven, part_size=PART, store=usenet.store)
    release_obf = build_release(rar, name=obf, part_size=PART, store=usenet.store, obfuscate=True)
    assert all(f.posted_name != f.name for f in release_obf.files if f.name.endswith(".rar"))
    gateway = usenet.start_gateway()
    assert sab(gateway, mode="version")["version"]                                      # S1
    config = sab(gateway, mode="get_config")["config"]                                  # S2
    assert "tv" in {c["name"] for c in config["categories"]}
    ids = {seven: addfile(gateway, seven, release7.nzb), obf: addfile(gateway, obf, release_obf.nzb)}  # S3
    queued = sab(gateway, mode="queue", start="0", limit="0", category="tv")["queue"]   # S4
    history_ids = {s["nzo_id"] for s in sab(gateway, mode="history", category="tv")["history"]["slots"]}
    assert {s["nzo_id"] for s in queued["slots"]} | history_ids == set(ids.values())
    for title, nzo in ids.items():                                                      # S6
        done = finished(gateway, nzo)
        assert done["status"] == "Completed", done
        assert done["storage"] == os.path.join(gateway.config.download_folder, "tv", title)
    check_reads(gateway, seven, f"{seven}.mkv", video7)        # ranges across articles and volumes
    check_reads(gateway, obf, f"{obf}.mkv", video_obf)
    for start, end in [(349_990, 350_020), (299_000, 901_000)]:   # volume edges, several volumes at once
        assert browse(gateway, seven, f"{seven}.mkv", start, end).content == video7[start:end + 1]
        assert browse(gateway, obf, f"{obf}.mkv", start, end).content == video_obf[start:end + 1]
    answer = sab(gateway, mode="history", name="delete", del_files="1", value=ids[seven])  # S8
    assert answer == {"status": True}
    assert ids[seven] not in {s["nzo_id"] for s in sab(gateway, mode="history", category="tv")["history"]["slots"]}
    gone_everywhere(gateway, ids[seven], seven, f"{seven}.mkv")
    assert browse(gateway, obf, f"{obf}.mkv", 0, 9).content == video_obf[:10]   # the other job is untouched
