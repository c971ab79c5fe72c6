"""The demo's usenet server: one emulated NNTP server holding a small sample release."""

from __future__ import annotations

from dataclasses import dataclass

from .media import media_bytes, nfo_bytes
from .release import Release, build_release
from .server import NNTPServer

SAMPLE_NAME = "Emulated.Sample.Movie.2024.1080p.WEB-DL.x264-EMU"
SAMPLE_USER = "demo"
SAMPLE_PASSWORD = "demo"   # nosec: an emulator's demo login, not a secret


@dataclass
class UsenetDemo:
    server: NNTPServer
    release: Release
    nzb: bytes              # the NZB document to add (SAB addfile / POST /api/add)
    nzb_name: str           # a file name for it
    username: str
    password: str


def sample_release(*, host: str = "127.0.0.1", port: int = 0, start: bool = True,
                   media_size: int = 6 << 20, part_size: int = 716_800) -> UsenetDemo:
    """A few MiB release (a Matroska-looking movie + an .nfo + a PAR2 index) on one server."""
    files = [(f"{SAMPLE_NAME}.mkv", media_bytes(SAMPLE_NAME, media_size)),
             (f"{SAMPLE_NAME}.nfo", nfo_bytes(SAMPLE_NAME))]
    release = build_release(files, name=SAMPLE_NAME, part_size=part_size, par2=True)
    server = NNTPServer(release.store, name="emulated-usenet", host=host, port=port,
                        username=SAMPLE_USER, password=SAMPLE_PASSWORD, max_connections=20)
    if start:
        server.start()
    return UsenetDemo(server=server, release=release, nzb=release.nzb,
                      nzb_name=f"{SAMPLE_NAME}.nzb", username=SAMPLE_USER, password=SAMPLE_PASSWORD)
