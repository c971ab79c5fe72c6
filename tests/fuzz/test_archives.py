"""Fuzzing the archive layer's header parsing: mangled RAR4/RAR5 (and 7z) volumes give ArchiveRefused
or a valid mapping, never another exception and never a hang (each example has a deadline)."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import timedelta

import py7zr
from hypothesis import example, given, settings
from hypothesis import strategies as st

from emulators.archives import write_rar
from gateway.archives import ArchiveRefused, map_archive
from tests.fuzz import FUZZ

RNG = random.Random(5)
MEMBERS = [("a.mkv", RNG.randbytes(7_000)), ("b.srt", RNG.randbytes(300))]
SETS = {
    (4, 1): write_rar(MEMBERS, version=4),
    (4, 3): write_rar(MEMBERS, version=4, volume_data=2_500),
    (5, 1): write_rar(MEMBERS, version=5),
    (5, 3): write_rar(MEMBERS, version=5, volume_data=2_500),
}
DEADLINE = settings(FUZZ, deadline=timedelta(seconds=5))


@dataclass
class MemoryVolume:
    name: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]


def check(pairs: list[tuple[str, bytes]]) -> None:
    volumes = [MemoryVolume(n, d) for n, d in pairs]
    try:
        members = map_archive(volumes)
    except ArchiveRefused as refused:
        assert refused.reason
        return
    for member in members:
        assert sum(e.length for e in member.extents) == member.size
        for extent in member.extents:
            assert 0 <= extent.volume < len(volumes)
            assert extent.offset >= 0 and extent.offset + extent.length <= volumes[extent.volume].size


# An edit: (volume index, position, kind, value). Positions favour the headers: head and tail.
edits = st.tuples(st.integers(0, 2), st.one_of(st.integers(0, 120), st.integers(-40, -1), st.integers(0, 3_000)),
                  st.sampled_from(["flip", "set", "cut"]), st.integers(0, 255))


def mangle(pairs: list[tuple[str, bytes]], changes: list[tuple[int, int, str, int]]) -> list[tuple[str, bytes]]:
    out = [(n, bytearray(d)) for n, d in pairs]
    for index, position, kind, value in changes:
        name, data = out[index % len(out)]
        if not data:
            continue
        at = position % len(data)
        if kind == "flip":
            data[at] ^= 1 << (value % 8)
        elif kind == "set":
            data[at] = value
        else:
            del data[at:]
    return [(n, bytes(d)) for n, d in out]


@DEADLINE
@given(st.sampled_from(sorted(SETS)), st.lists(edits, min_size=1, max_size=4))
@example((4, 1), [(0, 20, "set", 0xFF)])  # RAR4 main header size byte: a header that overlaps the next
@example((5, 1), [(0, 13, "set", 0xFF)])  # RAR5 header size vint: a continuation bit, then garbage
@example((5, 3), [(1, -1, "cut", 0)])  # the end header of a middle volume cut off
def test_mangled_rar_is_refused_or_valid(which: tuple[int, int], changes: list[tuple[int, int, str, int]]) -> None:
    check(mangle(SETS[which], changes))


@DEADLINE
@given(st.sampled_from(sorted(SETS)), st.binary(max_size=64), st.integers(0, 200))
def test_rar_with_garbage_headers_is_refused_or_valid(which: tuple[int, int], garbage: bytes, at: int) -> None:
    """Random bytes spliced in after the signature, where headers are parsed."""
    name, data = SETS[which][0]
    at = 8 + at % max(1, len(data) - 8)
    check([(name, data[:at] + garbage + data[at:]), *SETS[which][1:]])


def _seven_zip() -> bytes:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w", filters=[{"id": py7zr.FILTER_COPY}]) as archive:
        for name, data in MEMBERS:
            archive.writestr(data, name)
    return buffer.getvalue()


SEVEN = _seven_zip()


@DEADLINE
@given(st.lists(st.tuples(st.one_of(st.integers(0, 40), st.integers(-300, -1)), st.integers(0, 255)),
                min_size=1, max_size=4))
def test_mangled_7z_is_refused_or_valid(changes: list[tuple[int, int]]) -> None:
    data = bytearray(SEVEN)
    for position, value in changes:
        data[position % len(data)] = value
    check([("a.7z", bytes(data))])
