"""HTTP Range parsing (RFC 9110 §14), shared by the WebDAV and browse frontends."""

from __future__ import annotations

import re

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*(?:,.*)?", re.IGNORECASE)


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
        length = int(last)
        if length == 0 or size == 0:
            raise ValueError("range not satisfiable")
        return max(0, size - length), size - 1
    start = int(first)
    if start >= size or (last and int(last) < start):
        raise ValueError("range not satisfiable")
    return start, min(int(last), size - 1) if last else size - 1
