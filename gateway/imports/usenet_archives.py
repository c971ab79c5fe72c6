"""Stored archive sets of a usenet release, mapped to the files inside them.

The posted volumes are read through ``ArticleVolume``: a read becomes the
articles holding it (the offset table is already known), fetched through the
import's article cache, so reading a volume's headers usually costs the first
article the import read anyway. ``gateway.archives.map_archive`` does the
parsing; a compressed, solid or encrypted set refuses the job with its reason. A stored set
whose files' data is encrypted maps with the NZB's ``<meta type="password">`` (each member
then carries its AES cipher, and the readers decrypt); without a password it is refused as
"encrypted RAR (no password in the NZB)", with a wrong one as "wrong archive password". Sets
whose headers are encrypted too stay refused ("encrypted RAR headers").
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gateway.archives import ArchiveRefused, is_archive_set, map_archive
from gateway.library.nzblayout import Member, Source

_SET = re.compile(r"(\.part\d+\.rar|\.rar|\.r\d{2,3}|\.s\d{2}|\.7z\.\d{3}|\.7z|\.\d{3})$", re.IGNORECASE)
ReadArticle = Callable[[str], bytes]   # message id → decoded bytes


class NotStreamable(Exception):
    """A compressed, solid or encrypted set: ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ArticleVolume:
    """An archive volume whose bytes are read article by article (``gateway.archives.Volume``)."""

    def __init__(self, index: int, source: Source, read_article: ReadArticle) -> None:
        self.index = index
        self.name = source.name
        self.size = source.size
        self._source = source
        self._read = read_article

    def read(self, offset: int, length: int) -> bytes:
        source = self._source
        out = []
        for article, first, end in source.spans(offset, min(self.size, offset + length)):
            begin = source.start(article)
            out.append(self._read(source.ids[article])[first - begin:end - begin])
        return b"".join(out)


def set_name(name: str) -> str:
    """The name an archive set's volumes share (``Show.part01.rar`` → ``show``)."""
    return _SET.sub("", name).lower()


def map_archives(sources: list[Source], read_article: ReadArticle, password: str = "") -> list[Member]:
    """Every archive set among ``sources`` mapped to its members' extents (source, offset, length)."""
    sets: dict[str, list[int]] = {}
    for i, source in enumerate(sources):
        if _SET.search(source.name):
            sets.setdefault(set_name(source.name), []).append(i)
    members: list[Member] = []
    if not sets:
        return members
    for indexes in sets.values():
        names = [sources[i].name for i in indexes]
        if not is_archive_set(names):
            continue
        volumes = [ArticleVolume(i, sources[i], read_article) for i in indexes]
        try:   # map_archive orders the volumes itself; its extents index the list it was given
            mapped = map_archive(volumes, password or None)
        except ArchiveRefused as exc:
            reason = exc.reason + (" (no password in the NZB)" if exc.reason == "encrypted RAR" else "")
            raise NotStreamable(f"{names[0]}: {reason}") from None
        for member in mapped:
            extents = tuple((volumes[e.volume].index, e.offset, e.length) for e in member.extents)
            members.append(Member(member.name, member.size, extents, member.cipher))
    return members

