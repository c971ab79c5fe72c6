"""yEnc articles: the decoded part and its checks.

Decoding (and NNTP dot-unstuffing) is done by ``sabctools.Decoder`` in ``nntp.py``; this module
turns its answer into a ``YencPart`` only when the article is whole: yEnc at all, an ``=yend``
line, the size it announced, and the CRC it announced. Anything else is a ``DamagedArticle``,
which the client treats as "missing at this server" and asks the next one.

sabctools does not report ``part=`` and ``total=`` of ``=ybegin``, so ``parse_ybegin`` reads
them from the first raw bytes of the answer (the connection keeps a copy of them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sabctools


class DamagedArticle(Exception):
    """The server sent the article, but it is not a whole, correct yEnc part."""


@dataclass(frozen=True)
class YencPart:
    """One decoded, CRC-checked article."""

    name: str
    file_size: int
    part: int
    total: int
    begin: int          # 0-based offset of the first byte in the file
    end: int            # exclusive
    data: bytes = field(repr=False)


_YBEGIN = re.compile(rb"^=ybegin\s+(.*)$", re.MULTILINE)
_FIELD = re.compile(rb"(part|total)=(\d+)")


def parse_ybegin(head: bytes) -> tuple[int, int]:
    """``(part, total)`` from the ``=ybegin`` line in the first bytes of an answer; ``(1, 1)`` when absent.

    A single-part post has no ``part=``/``total=``: it is part 1 of 1.
    """
    match = _YBEGIN.search(head)
    if match is None:
        return 1, 1
    fields = {key: int(value) for key, value in _FIELD.findall(match.group(1).split(b" name=")[0])}
    part = fields.get(b"part", 1)
    return part, fields.get(b"total", part)


def to_part(response: sabctools.NNTPResponse, head: bytes, message_id: str) -> YencPart:
    """The checked part of a decoded ``222`` answer, else ``DamagedArticle`` saying what is wrong."""
    data = response.data
    if response.format != sabctools.EncodingFormat.YENC or data is None:
        raise DamagedArticle(f"<{message_id}>: not a yEnc article")
    if response.end_size == 0:
        raise DamagedArticle(f"<{message_id}>: truncated (no =yend line)")
    if response.crc_expected is not None and response.crc is None:
        raise DamagedArticle(f"<{message_id}>: CRC mismatch (expected {response.crc_expected:08x})")
    size = len(data)
    if response.end_size != size:
        raise DamagedArticle(f"<{message_id}>: decoded {size} bytes, =yend says {response.end_size}")
    begin, end = response.part_begin, response.part_end
    if end == 0 and begin == 0:
        end = size   # a single-part post without =ypart
    if end - begin != size or end > response.file_size:
        raise DamagedArticle(f"<{message_id}>: part {begin}-{end} does not fit {size} bytes of a "
                             f"{response.file_size}-byte file")
    part, total = parse_ybegin(head)
    return YencPart(name=response.file_name or "", file_size=response.file_size, part=part, total=total,
                    begin=begin, end=end, data=bytes(data))
