"""HTTP Range and conditional requests (RFC 9110 §13, §14), one implementation for the
WebDAV and browse frontends: ``parse_range`` reads a Range header, ``plan_response``
decides a whole GET/HEAD answer (200, 206, 304, 412, 416 and their headers)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from email.utils import formatdate, parsedate_to_datetime
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from fs.vfs import Entry

# [0-9], not \d: Python's \d and int() take any Unicode digit ('١'), HTTP's DIGIT is ASCII.
_RANGE = re.compile(r"\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*(?:,.*)?", re.IGNORECASE)
# Beyond any file size; longer digit runs are not handed to int() (its 4300-digit limit).
_HUGE = 1 << 80
_MAX_DIGITS = 24


def _number(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return _HUGE if len(digits) > _MAX_DIGITS else int(digits)


def parse_range(header: str, size: int) -> tuple[int, int]:
    """The first range of a 'bytes=' header as (start, end), end inclusive.

    Raises ``ValueError`` when malformed or unsatisfiable; both are answered
    with 416 and ``Content-Range: bytes */size``.
    """
    match = _RANGE.fullmatch(header)
    if not match or match.group(1) == match.group(2) == "":
        raise ValueError("malformed range")
    first, last = match.group(1), match.group(2)
    if first == "":
        length = _number(last)
        if length == 0 or size == 0:
            raise ValueError("range not satisfiable")
        return max(0, size - length), size - 1
    start = _number(first)
    if start >= size or (last and _number(last) < start):
        raise ValueError("range not satisfiable")
    return start, min(_number(last), size - 1) if last else size - 1


# ----------------------------------------------------------- one GET/HEAD plan

class Plan(NamedTuple):
    """How to answer a GET or HEAD of one file: the status, the response headers, and the
    inclusive byte span to send (``end < start``: no body). ``reason`` says why a 412 or 416."""

    status: int
    headers: dict[str, str]
    start: int
    end: int
    reason: str = ""


def plan_response(entry: Entry, headers: Mapping[str, str]) -> Plan:
    """The one answer of both file frontends (WebDAV GET and ``/api/browse/download``) to
    a request's conditional and Range headers, in RFC 9110 §13.2.2's order: If-Match /
    If-Unmodified-Since (412), If-None-Match / If-Modified-Since (304), then Range
    (206 or 416), which an If-Range naming another version turns into a plain 200.

    ``headers`` is looked up by canonical name (``Range``, ``If-Range``...): a Bottle
    request's headers, or ``environ_headers`` over a WSGI environ.
    """
    etag = f'"{entry.etag}"'
    base = {"Accept-Ranges": "bytes", "ETag": etag, "Content-Type": entry.content_type,
            "Last-Modified": formatdate(entry.mtime, usegmt=True)}
    failed = _precondition_failed(entry, etag, headers)
    if failed:
        return Plan(412, base, 0, -1, failed)
    if _not_modified(entry, etag, headers):
        return Plan(304, base, 0, -1)
    start, end, status = 0, entry.size - 1, 200
    header = headers.get("Range")
    if header and entry.size > 0 and _range_applies(entry, etag, headers.get("If-Range")):
        try:
            start, end = parse_range(header, entry.size)
        except ValueError as exc:
            return Plan(416, {"Content-Range": f"bytes */{entry.size}"}, 0, -1, str(exc))
        status = 206
        base["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
    base["Content-Length"] = str(max(0, end - start + 1))
    return Plan(status, base, start, end)


def _tokens(value: str) -> list[str]:
    return [t.strip() for t in value.split(",")]


def _timestamp(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _precondition_failed(entry: Entry, etag: str, headers: Mapping[str, str]) -> str:
    """Why a request's If-Match or If-Unmodified-Since fails ('' when neither does)."""
    if_match = headers.get("If-Match")
    if if_match is not None:
        tokens = _tokens(if_match)
        return "" if "*" in tokens or etag in tokens else "If-Match names another version"
    unmodified = headers.get("If-Unmodified-Since")
    since = _timestamp(unmodified) if unmodified else None
    if since is not None and int(entry.mtime) > since:
        return "modified since If-Unmodified-Since"
    return ""


def _not_modified(entry: Entry, etag: str, headers: Mapping[str, str]) -> bool:
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:   # when present, If-Modified-Since is ignored
        tokens = _tokens(if_none_match)
        return "*" in tokens or etag in tokens
    modified = headers.get("If-Modified-Since")
    since = _timestamp(modified) if modified else None
    return since is not None and int(entry.mtime) <= since


def _range_applies(entry: Entry, etag: str, if_range: str | None) -> bool:
    """Range is honoured unless If-Range names another version (a strong ETag or a date)."""
    if not if_range:
        return True
    if if_range.startswith(("\"", "W/")):
        return if_range.strip() == etag
    since = _timestamp(if_range)
    return since is not None and int(entry.mtime) == int(since)


class environ_headers(Mapping[str, str]):   # noqa: N801  (reads like the function it stands in for)
    """A WSGI environ's request headers by canonical name: ``If-Range`` → ``HTTP_IF_RANGE``."""

    __slots__ = ("_environ",)

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._environ = environ

    def __getitem__(self, name: str) -> str:
        return str(self._environ["HTTP_" + name.upper().replace("-", "_")])

    def __iter__(self) -> Iterator[str]:
        return (k[5:].replace("_", "-").title() for k in self._environ if k.startswith("HTTP_"))

    def __len__(self) -> int:
        return sum(1 for k in self._environ if k.startswith("HTTP_"))
