"""MemberStream: a member's bytes as ranges of its volumes, checked against the bytes themselves."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.archives import Extent
from gateway.library.layouts import ArchiveLayout
from gateway.library.members import MemberStream, read_member


class Piece:
    def __init__(self, data: bytes, first: int, last: int, log: list[tuple[int, int, int]], volume: int) -> None:
        self._data = data[first:last + 1]
        log.append((volume, first, last))

    def read(self, size: int) -> bytes:
        out, self._data = self._data[:size], self._data[size:]
        return out

    def close(self) -> None:
        pass


def scene(lengths: list[int], seed: int = 1) -> tuple[list[bytes], list[Extent], bytes]:
    """Volumes with a header before each piece and a trailer after it; the member's true bytes."""
    rng = random.Random(seed)
    volumes, extents, member = [], [], b""
    for i, length in enumerate(lengths):
        head, body, tail = rng.randbytes(rng.randrange(1, 40)), rng.randbytes(length), rng.randbytes(7)
        volumes.append(head + body + tail)
        extents.append(Extent(i, len(head), length))
        member += body
    return volumes, extents, member


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 300), min_size=1, max_size=8), st.data())
def test_any_range_reads_the_member_exactly(lengths: list[int], data: st.DataObject) -> None:
    volumes, extents, member = scene(lengths)
    if not member:
        return
    offset = data.draw(st.integers(0, len(member) - 1))
    length = data.draw(st.integers(1, len(member) - offset + 50))
    log: list[tuple[int, int, int]] = []
    got = read_member(extents, lambda v, first, last: Piece(volumes[v], first, last, log, v), offset, length)
    assert got == member[offset:offset + length]
    # Each extent crossed is opened once, bounded to what the read needs.
    assert all(first >= extents[v].offset and last < extents[v].offset + extents[v].length for v, first, last in log)
    assert len({v for v, _, _ in log}) == len(log)


def test_small_reads_cross_boundaries_one_stream_per_extent() -> None:
    volumes, extents, member = scene([100, 50, 100])
    log: list[tuple[int, int, int]] = []
    stream = MemberStream(extents, lambda v, first, last: Piece(volumes[v], first, last, log, v), 90)
    out = b""
    while piece := stream.read(7):
        out += piece
    assert out == member[90:] and stream.position == len(member) and [v for v, _, _ in log] == [0, 1, 2]


def test_a_layout_survives_its_json() -> None:
    from gateway.archives import Member
    layout = ArchiveLayout(("a.rar", "a.r00"), (10, 20), (Member("x.mkv", 25, (Extent(0, 3, 5), Extent(1, 0, 20))),))
    assert ArchiveLayout.from_json(layout.to_json()) == layout
    refused = ArchiveLayout(("a.rar",), (10,), refused="compressed RAR")
    assert ArchiveLayout.from_json(refused.to_json()) == refused and not refused.unpacked
