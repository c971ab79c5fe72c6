"""Fuzzing Range header parsing (fs/ranges.py) against a reference for single ranges.

``parse_range`` answers a window ``(start, end)`` inside ``[0, size)`` with
start <= end, or raises ``ValueError`` (the 416 signal: malformed or
unsatisfiable); nothing else, for any header and size.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fs.ranges import parse_range
from tests.fuzz import FUZZ

sizes = st.integers(min_value=0, max_value=1 << 45)
numbers = st.integers(min_value=0, max_value=1 << 46) | st.integers(min_value=0, max_value=10)


def reference(header: str, size: int) -> tuple[int, int] | None:
    """RFC 9110 §14.1.2 for the one canonical single range; None: unsatisfiable."""
    m = re.fullmatch(r"bytes=([0-9]*)-([0-9]*)", header)
    assert m and (m[1] or m[2])
    if not m[1]:
        suffix = int(m[2])
        return (max(0, size - suffix), size - 1) if suffix and size else None
    start = int(m[1])
    if start >= size:
        return None
    end = int(m[2]) if m[2] else size - 1
    assert end >= start   # the generator never writes a reversed range
    return start, min(end, size - 1)


@st.composite
def single_ranges(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["a-b", "a-", "-n"]))
    if kind == "a-b":
        a = draw(numbers)
        return f"bytes={a}-{a + draw(numbers)}"
    return f"bytes={draw(numbers)}-" if kind == "a-" else f"bytes=-{draw(numbers)}"


def check(header: str, size: int) -> tuple[int, int] | None:
    try:
        start, end = parse_range(header, size)
    except ValueError:
        return None
    assert 0 <= start <= end < size
    return start, end


@FUZZ
@given(single_ranges(), sizes)
def test_a_single_range_agrees_with_the_reference(header: str, size: int) -> None:
    assert check(header, size) == reference(header, size)


headers = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(["bytes", "BYTES", "=", "-", ",", " ", "\t", "\n", "0", "1", "9" * 30, "5", "x",
                              "\u0661", "\u00a0", "-0", "items"]), max_size=10).map("".join),
    st.builds(lambda a, b, tail: f"bytes={a}-{b}{tail}", st.text("0123456789 \u0661\uff15", max_size=8),
              st.text("0123456789 \u0669", max_size=8), st.sampled_from(["", ",", ", 5-9", ",-3", ",\n1-2", "\x00"])),
)


def reference_any(header: str, size: int) -> tuple[int, int] | None:
    """The module's documented leniency (spaces, case, only the first of several ranges
    counts, a reversed range is refused), with HTTP's ASCII digits."""
    m = re.fullmatch(r"\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*(?:,.*)?", header, re.IGNORECASE)
    if not m or not (m[1] or m[2]) or (m[1] and m[2] and int(m[2]) < int(m[1])):
        return None
    return reference(f"bytes={m[1]}-{m[2]}", size)


@FUZZ
@given(headers, sizes | st.integers(0, 3))
def test_any_header_gives_a_window_or_valueerror(header: str, size: int) -> None:
    assert check(header, size) == reference_any(header, size)


# ------------------------------------------------------------------ findings, as named examples

@pytest.mark.parametrize("header", ["bytes=\u0661-\u0662", "bytes=0-\u0669", "bytes=-\u0665", "bytes=\uff10-"])
def test_non_ascii_digits_are_malformed(header: str) -> None:
    """Python's \\d and int() take any Unicode digit; HTTP's DIGIT is 0-9 only."""
    with pytest.raises(ValueError, match="malformed"):
        parse_range(header, 100)


def test_a_huge_last_position_is_clamped() -> None:
    """5000 digits used to stop int() (Python's 4300-digit limit): a 416 for a valid range."""
    assert parse_range("bytes=0-" + "9" * 5000, 100) == (0, 99)
    assert parse_range("bytes=-" + "9" * 5000, 100) == (0, 99)
    with pytest.raises(ValueError, match="not satisfiable"):
        parse_range("bytes=" + "9" * 5000 + "-", 100)
    assert parse_range("bytes=" + "0" * 5000 + "7-8", 100) == (7, 8)
