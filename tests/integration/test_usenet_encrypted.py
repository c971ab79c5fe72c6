"""Stored RAR sets with encrypted data, streamed with the NZB's ``<meta type="password">``
(contract §8: only "encrypted (no password in the NZB)" fails), against the NNTP emulator over
real sockets through Sonarr's SAB sequence: RAR5 (AES-256) and RAR4 (AES-128) multi-volume sets
reach ``Completed`` and read byte for byte over browse and WebDAV with ranges across AES blocks,
articles and volumes; a wrong password and a missing one fail the job with the reason.
"""

from __future__ import annotations

import pytest

from emulators.archives import write_rar
from emulators.usenet.release import build_release
from tests.integration.test_usenet import PART, Usenet, addfile, browse, check_reads, finished, media, usenet, webdav

__all__ = ["usenet"]   # the fixture, imported for pytest
PASSWORD = "s3cret-rar-pässword"
VOLUME = 250_003   # data bytes per volume: volume edges fall inside AES blocks and articles


def _release(usenet: Usenet, title: str, version: int, password: str | None) -> tuple[bytes, bytes]:
    video = b"\x1a\x45\xdf\xa3" + media(title, 1_100_001)   # an mkv begins with the EBML magic
    members = [(f"{title}.mkv", video), (f"{title}.srt", b"1\n00:00:01,000 --> 00:00:02,000\nhi\n")]
    volumes = write_rar(members, version=version, base=title, volume_data=VOLUME, encrypted="data",
                        password=PASSWORD)
    assert len(volumes) == 5
    meta = {} if password is None else {"password": password}
    return video, build_release(volumes, name=title, part_size=PART, store=usenet.store, meta=meta).nzb


@pytest.mark.parametrize("version", [5, 4])
def test_an_encrypted_stored_set_with_the_nzb_password_completes_and_reads_byte_for_byte(
        usenet: Usenet, version: int) -> None:
    title = f"Movie.2024.1080p.AES{version}-GRP"
    video, nzb = _release(usenet, title, version, PASSWORD)
    gateway = usenet.start_gateway()
    done = finished(gateway, addfile(gateway, title, nzb, cat="movies"), cat="movies")
    assert done["status"] == "Completed", done
    check_reads(gateway, title, f"{title}.mkv", video)
    size = len(video)
    edges = [(15, 16), (16, 47), (31, 33)]                                   # AES blocks at the start
    edges += [(k * VOLUME - 17, k * VOLUME + 17) for k in (1, 2, 3, 4)]      # volume edges (ciphertext)
    edges += [(PART - 1, PART), (7 * PART - 5, 8 * PART + 21), (size - 20, size - 1), (size - 1, size - 1)]
    for start, end in edges:
        got = browse(gateway, title, f"{title}.mkv", start, end)
        assert got.status_code == 206 and got.content == video[start:end + 1], (start, end)
        dav = webdav(gateway, f"{title}/{title}.mkv", start, end)
        assert dav.status_code == 206 and dav.content == video[start:end + 1], (start, end)
    assert int(browse(gateway, title, f"{title}.mkv", 0, 0).headers["Content-Range"].split("/")[1]) == size


@pytest.mark.parametrize("version", [5, 4])
@pytest.mark.parametrize(("password", "reason"), [("not-the-password", "wrong archive password"),
                                                  (None, "encrypted RAR (no password in the NZB)")])
def test_a_wrong_or_missing_password_fails_the_job_with_the_reason(usenet: Usenet, version: int,
                                                                   password: str | None, reason: str) -> None:
    title = f"Movie.2024.1080p.AES{version}.{'NOPW' if password is None else 'BADPW'}-GRP"
    _, nzb = _release(usenet, title, version, password)
    gateway = usenet.start_gateway()
    done = finished(gateway, addfile(gateway, title, nzb, cat="movies"), cat="movies")
    assert done["status"] == "Failed" and reason in done["fail_message"], done
    assert browse(gateway, title, f"{title}.mkv").status_code == 404
