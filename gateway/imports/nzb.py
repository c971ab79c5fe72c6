"""NZB files: read just enough to accept or refuse a job before any provider sees it.

An NZB is untrusted XML, so it is parsed with ``defusedxml`` (no entity
expansion, no external entities, and here no DTD internal subset either). The
job is keyed by the MD5 of the file's bytes, as TorBox keys usenet jobs; the
job's name is the uploaded file name without ``.nzb`` (the *arr parses that
title later: arr-protocol §3.2 B).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element, TreeBuilder

from defusedxml import DefusedXmlException, DTDForbidden
from defusedxml.ElementTree import DefusedXMLParser

from gateway.imports.torrentmeta import TorrentMetaError

MAX_NZB = 64 << 20
_NAME_IN_SUBJECT = re.compile(r'"([^"]+)"')
NZO_PREFIX = "SABnzbd_nzo_"   # an NZB job's nzo_id (api/sabnzbd.py) and the *arr's downloadId: prefix + import key


def nzo_id(key: str) -> str:
    """An NZB job's id, as the SABnzbd API gives it and the *arr keeps it as the grab's downloadId."""
    return NZO_PREFIX + key


def import_key(download_id: str) -> str:
    """The import record key a downloadId or nzo_id names: the infohash (lower-case) or the NZB's key.
    Either case of the prefix: the *arr client hands grabs' downloadIds over lower-cased."""
    return download_id.strip().lower().removeprefix(NZO_PREFIX.lower())


class NzbError(TorrentMetaError):
    """Not a usable NZB; the message says why."""


@dataclass(frozen=True)
class NzbFile:
    """One ``<file>``: its segments' message ids sorted by number, and what is wrong with them."""

    index: int                           # position in the NZB (the last tie-break of volume order)
    subject_name: str                    # the name in the subject's quotes, "" when none
    subject: str
    groups: tuple[str, ...]
    message_ids: tuple[str, ...]         # without angle brackets, in segment-number order
    encoded_bytes: int                   # the sum of the segments' ``bytes`` (yEnc-encoded sizes)
    problem: str = ""                    # gaps or repeated numbers: refused when the file is media

    @property
    def shown_name(self) -> str:
        """The subject's name, or ``file<index>`` when the subject names none."""
        return self.subject_name or f"file{self.index}"


@dataclass(frozen=True)
class NzbMeta:
    md5: str                             # lower-case hex of the file's bytes: the job key
    files: tuple[tuple[str, int], ...]   # (name from the subject, bytes of its segments)
    entries: tuple[NzbFile, ...] = ()
    name: str = ""                       # <meta type="name">, "" when absent
    password: str = ""                   # <meta type="password">

    @property
    def size(self) -> int:
        return sum(size for _, size in self.files)


def looks_like_nzb(name: str, data: bytes) -> bool:
    head = data.lstrip()[:200].lower()
    return name.lower().endswith(".nzb") or head.startswith(b"<?xml") and b"<nzb" in data[:4096].lower() \
        or head.startswith(b"<nzb")


def job_name(filename: str) -> str:
    """The job's name: the uploaded file's name without ``.nzb`` (and without any folder)."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return base[:-4] if base.lower().endswith(".nzb") else base


class _NzbParser(DefusedXMLParser):
    """defusedxml's parser (no entities, no external references) that also refuses a
    DTD internal subset, yet keeps the plain public DOCTYPE real NZBs carry: an
    ``<!ATTLIST>`` there would add attribute defaults (segment bytes) the file never wrote."""

    def __init__(self) -> None:
        super().__init__(target=TreeBuilder())
        self.parser.StartDoctypeDeclHandler = self._refuse_internal_subset

    @staticmethod   # (not ``_doctype``: the stdlib XMLParser keeps its own state under that name)
    def _refuse_internal_subset(name: str, sysid: str | None, pubid: str | None, has_internal_subset: bool) -> None:
        if has_internal_subset:
            raise DTDForbidden(name, sysid, pubid)


def _fromstring(data: bytes) -> Element:
    parser = _NzbParser()
    parser.feed(data)
    return parser.close()


def parse_nzb(data: bytes) -> NzbMeta:
    if len(data) > MAX_NZB:
        raise NzbError("the NZB is larger than 64 MiB")
    try:
        root = _fromstring(data)
    except DefusedXmlException:
        raise NzbError("the NZB uses XML entities or a DTD, which are refused") from None
    except Exception:   # ParseError and the expat errors it wraps
        raise NzbError("the NZB is not well-formed XML") from None
    if _local(root.tag) != "nzb":
        raise NzbError(f"the XML root is <{_local(root.tag)}>, not <nzb>")
    entries = tuple(_file(i, node) for i, node in enumerate(n for n in root if _local(n.tag) == "file"))
    if not entries:
        raise NzbError("the NZB lists no files")
    if not any(e.encoded_bytes for e in entries):
        raise NzbError("the NZB's files have no segments")
    files = tuple((e.shown_name, e.encoded_bytes) for e in entries)
    metas = _metas(root)
    return NzbMeta(hashlib.md5(data).hexdigest(), files, entries, metas.get("name", ""), metas.get("password", ""))


def _metas(root: Element) -> dict[str, str]:
    """``<head><meta type="name">…</meta></head>``: the first of each type."""
    found: dict[str, str] = {}
    for head in (n for n in root if _local(n.tag) == "head"):
        for meta in (n for n in head if _local(n.tag) == "meta"):
            kind = (meta.get("type") or "").lower()
            if kind and kind not in found:
                found[kind] = (meta.text or "").strip()
    return found


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _file(index: int, node: Element) -> NzbFile:
    subject = node.get("subject", "")
    match = _NAME_IN_SUBJECT.search(subject)
    name = match.group(1) if match else ""
    shown = name or f"file{index}"
    size = 0
    numbered: dict[int, str] = {}
    repeated: list[int] = []
    for segments in (n for n in node if _local(n.tag) == "segments"):
        for segment in segments:
            try:
                size += max(0, int(segment.get("bytes", "0")))
                number = int(segment.get("number", "0"))
            except ValueError:
                raise NzbError(f"file {shown!r}: a segment's bytes or number is not a number") from None
            message_id = (segment.text or "").strip().strip("<>").strip()
            if number in numbered and numbered[number] != message_id:
                repeated.append(number)
            numbered[number] = message_id
    groups = tuple((g.text or "").strip() for gs in node if _local(gs.tag) == "groups" for g in gs)
    order = sorted(numbered)
    ids = tuple(numbered[n] for n in order)
    return NzbFile(index, name, subject, groups, ids, size, _problem(order, repeated, ids))


def _problem(numbers: list[int], repeated: list[int], ids: tuple[str, ...]) -> str:
    """Segments must be numbered 1..N once each; say what is not (the caller decides)."""
    if repeated:
        return f"segment {repeated[0]} is listed twice with different articles"
    if not numbers:
        return "it has no segments"
    if numbers[0] != 1 or numbers[-1] != len(numbers):
        expected = next((n for n, got in enumerate(numbers, start=1) if n != got), len(numbers) + 1)
        return f"segment {expected} is missing from the NZB"
    if not all(ids):
        return "a segment has no message id"
    return ""
