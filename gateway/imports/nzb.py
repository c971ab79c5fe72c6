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


class NzbError(TorrentMetaError):
    """Not a usable NZB; the message says why."""


@dataclass(frozen=True)
class NzbMeta:
    md5: str                             # lower-case hex of the file's bytes: the job key
    files: tuple[tuple[str, int], ...]   # (name from the subject, bytes of its segments)

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
    files = tuple(_file(i, node) for i, node in enumerate(n for n in root if _local(n.tag) == "file"))
    if not files:
        raise NzbError("the NZB lists no files")
    if not any(size for _, size in files):
        raise NzbError("the NZB's files have no segments")
    return NzbMeta(hashlib.md5(data).hexdigest(), files)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _file(index: int, node: Element) -> tuple[str, int]:
    subject = node.get("subject", "")
    match = _NAME_IN_SUBJECT.search(subject)
    name = match.group(1) if match else f"file{index}"
    size = 0
    for segments in (n for n in node if _local(n.tag) == "segments"):
        for segment in segments:
            try:
                size += max(0, int(segment.get("bytes", "0")))
            except ValueError:
                raise NzbError(f"file {name!r}: a segment's bytes is not a number") from None
    return name, size
