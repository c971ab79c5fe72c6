"""HTTP Range parsing (RFC 9110 §14), shared by the WebDAV and browse frontends."""

from __future__ import annotations

import re

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
