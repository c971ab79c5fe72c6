"""The archive layer against the emulators' RAR writer and py7zr: members read back byte for byte
from the extents, refusals with their reasons, and only a few KiB of headers read per volume.

The writer itself is checked against rarfile (a third party), so neither side only agrees with itself.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import py7zr
import pytest
import rarfile

from emulators.archives import truncate_volume, without_volume, write_rar
from gateway.archives import (
    ArchiveRefused,
    Member,
    archive_volumes,
    is_archive_set,
    map_archive,
    order_volumes,
)

RNG = random.Random(17)
MEMBERS = [
    ("Show.S01E01.mkv", RNG.randbytes(120_000)),
    ("Subs/Show.S01E01.srt", RNG.randbytes(3_001)),
    ("empty.nfo", b""),
    ("tiny.bin", b"x"),
]


@dataclass
class CountingVolume:
    """A volume in memory that counts what the layer asks of it."""

    name: str
    data: bytes
    reads: int = 0
    bytes_read: int = 0

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, length: int) -> bytes:
        self.reads += 1
        self.bytes_read += length
        return self.data[offset : offset + length]


def volumes(pairs: list[tuple[str, bytes]]) -> list[CountingVolume]:
    return [CountingVolume(name, data) for name, data in pairs]


def read_member(member: Member, vols: list[CountingVolume]) -> bytes:
    return b"".join(vols[e.volume].data[e.offset : e.offset + e.length] for e in member.extents)


def assert_maps(vols: list[CountingVolume], members: list[tuple[str, bytes]]) -> list[Member]:
    got = map_archive(vols)
    assert [m.name for m in got] == [name for name, _ in members]
    for member, (_, data) in zip(got, members, strict=True):
        assert member.size == len(data)
        assert sum(e.length for e in member.extents) == member.size
        assert read_member(member, vols) == data
    return got


def seven_zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w", filters=[{"id": py7zr.FILTER_COPY}]) as archive:
        for name, data in members:
            archive.writestr(data, name)
    return buffer.getvalue()


# The writer, checked by rarfile: names, sizes, and stored data extracted without unrar.


@pytest.mark.parametrize(("version", "naming", "volume_data"),
                         [(4, "old", None), (4, "old", 3_100), (4, "new", 9_000), (5, "new", None), (5, "new", 9_000)])
def test_rarfile_reads_what_the_writer_writes(tmp_path: Path, version: int, naming: str,
                                              volume_data: int | None) -> None:
    written = write_rar(MEMBERS, version=version, naming=naming, volume_data=volume_data)
    for name, data in written:
        (tmp_path / name).write_bytes(data)
    archive = rarfile.RarFile(str(tmp_path / written[0][0]))
    assert [(i.filename, i.file_size) for i in archive.infolist()] == [(n, len(d)) for n, d in MEMBERS]
    assert len(archive.volumelist()) == len(written)
    for name, data in MEMBERS:
        assert archive.read(name) == data


def test_writer_names_volumes_in_both_styles() -> None:
    old = [n for n, _ in write_rar(MEMBERS, version=4, volume_data=3_100)]
    assert old[:3] == ["release.rar", "release.r00", "release.r01"] and len(old) == 40
    new = [n for n, _ in write_rar(MEMBERS, version=5, volume_data=30_000)]
    assert new == [f"release.part{k:02d}.rar" for k in range(1, 6)]


# map_archive: every variant reads back byte for byte.


def test_rar4_single() -> None:
    assert_maps(volumes(write_rar(MEMBERS, version=4)), MEMBERS)


def test_rar4_forty_volumes_old_naming() -> None:
    written = write_rar(MEMBERS, version=4, volume_data=3_100)
    assert len(written) == 40 and written[-1][0] == "release.r38"
    got = assert_maps(volumes(written), MEMBERS)
    assert len(got[0].extents) == 39  # the episode crosses every volume boundary up to the 39th


def test_rar5_part_volumes() -> None:
    written = write_rar(MEMBERS, version=5, volume_data=9_000)
    assert written[0][0] == "release.part01.rar"
    assert_maps(volumes(written), MEMBERS)


def test_rar5_single() -> None:
    assert_maps(volumes(write_rar(MEMBERS, version=5)), MEMBERS)


def test_7z_copy_single() -> None:
    assert_maps(volumes([("release.7z", seven_zip(MEMBERS))]), MEMBERS)


def test_7z_copy_split() -> None:
    data = seven_zip(MEMBERS)
    split = [(f"release.7z.{k // 10_000 + 1:03d}", data[k : k + 10_000]) for k in range(0, len(data), 10_000)]
    vols = volumes(split)
    got = assert_maps(vols, MEMBERS)
    assert len(got[0].extents) >= 12
    # Split volumes given out of order are put back by name.
    shuffled = vols[::-1]
    for member, (_, data) in zip(map_archive(shuffled), MEMBERS, strict=True):
        assert b"".join(shuffled[e.volume].data[e.offset : e.offset + e.length] for e in member.extents) == data


def test_7z_compressed_is_refused() -> None:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:  # LZMA2, the default
        archive.writestr(b"a" * 5000, "a.mkv")
    with pytest.raises(ArchiveRefused) as refused:
        map_archive(volumes([("a.7z", buffer.getvalue())]))
    assert refused.value.reason == "7z not Copy"


# Volume order: from the headers, whatever the names and the order given.


@pytest.mark.parametrize("version", [4, 5])
def test_order_from_headers_with_obfuscated_shuffled_names(version: int) -> None:
    written = write_rar(MEMBERS, version=version, volume_data=9_000)
    rng = random.Random(version)
    shuffled = written[:]
    rng.shuffle(shuffled)
    vols = volumes([(f"{rng.getrandbits(64):016x}", data) for _, data in shuffled])
    assert [v.data for v in order_volumes(vols)] == [data for _, data in written]
    assert_maps(vols, MEMBERS)


# Refusals, with the reason the user sees.


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize(("options", "reason"), [
    ({"compressed": {"Show.S01E01.mkv"}}, "compressed RAR"),
    ({"solid": True}, "solid RAR"),
    ({"encrypted": "headers"}, "encrypted RAR headers"),
    ({"encrypted": "data"}, "encrypted RAR"),
])
def test_unstreamable_rar_is_refused(version: int, options: dict[str, object], reason: str) -> None:
    written = write_rar(MEMBERS, version=version, volume_data=30_000, **options)
    with pytest.raises(ArchiveRefused) as refused:
        map_archive(volumes(written))
    assert refused.value.reason == reason


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize(("missing", "reason"), [(0, "missing volume 1"), (6, "missing volume 7"),
                                                 (-1, "missing volume 14")])
def test_missing_volume_is_refused(version: int, missing: int, reason: str) -> None:
    written = write_rar(MEMBERS, version=version, volume_data=9_000)
    assert len(written) == 14
    with pytest.raises(ArchiveRefused) as refused:
        map_archive(volumes(without_volume(written, missing % len(written))))
    assert refused.value.reason == reason


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("keep", [5_000, 30])
def test_truncated_volume_is_refused(version: int, keep: int) -> None:
    written = write_rar(MEMBERS, version=version, volume_data=9_000)
    with pytest.raises(ArchiveRefused) as refused:
        map_archive(volumes(truncate_volume(written, 3, keep)))
    assert refused.value.reason == f"truncated volume {written[3][0]}"


def test_not_an_archive_is_refused() -> None:
    with pytest.raises(ArchiveRefused) as refused:
        map_archive(volumes([("movie.mkv", b"\x1aE\xdf\xa3" + bytes(5000))]))
    assert refused.value.reason == "not a RAR or 7z archive set"


def test_network_errors_are_not_refusals() -> None:
    class Down(CountingVolume):
        def read(self, offset: int, length: int) -> bytes:
            raise ConnectionError("server down")

    written = write_rar(MEMBERS, version=5)
    with pytest.raises(ConnectionError):
        map_archive([Down(name, data) for name, data in written])


# Reads: headers only.


@pytest.mark.parametrize("version", [4, 5])
def test_reads_are_a_few_kib_per_volume(version: int) -> None:
    big = [("Movie.mkv", bytes(2_000_000))]
    vols = volumes(write_rar(big, version=version, volume_data=100_000))
    assert_maps(vols, big)
    assert max(v.bytes_read for v in vols) <= 8 * 1024
    assert sum(v.bytes_read for v in vols) < 0.1 * sum(v.size for v in vols)


FILM = [("Film.2018.mkv", random.Random(50).randbytes(50 * 16_384 - 1000))]


@pytest.mark.parametrize(("version", "naming"), [(4, "old"), (4, "new"), (5, "new")])
def test_a_film_set_costs_exactly_one_read_per_volume(version: int, naming: str) -> None:
    # The head window says it all: RAR5's volume number, RAR4's names, the split flags and extents.
    vols = volumes(write_rar(FILM, version=version, naming=naming, volume_data=16_384))
    assert len(vols) == 50
    assert_maps(vols, FILM)
    assert [v.reads for v in vols] == [1] * 50


@pytest.mark.parametrize("version", [4, 5])
def test_order_volumes_and_map_archive_read_nothing_twice(version: int) -> None:
    vols = volumes(write_rar(FILM, version=version, volume_data=16_384))
    assert order_volumes(vols) == vols
    assert [v.reads for v in vols] == [1] * 50


@pytest.mark.parametrize("version", [4, 5])
def test_a_member_ending_mid_volume_costs_a_read_at_the_next_header(version: int) -> None:
    # The episode ends in the last volume with room after it: the subs that follow are read there.
    vols = volumes(write_rar(MEMBERS, version=version, volume_data=9_000))
    assert_maps(vols, MEMBERS)
    assert [v.reads for v in vols] == [1] * 13 + [2]


def test_obfuscated_rar4_names_read_the_end_headers() -> None:
    # RAR4 keeps a volume's number only in its end header: names that give no order cost the tails
    # (not the first volume's, whose head says "first volume"). RAR5's heads keep the numbers.
    written = write_rar(FILM, version=4, volume_data=16_384)
    rng = random.Random(4)
    shuffled = written[:]
    rng.shuffle(shuffled)
    vols = volumes([(f"{rng.getrandbits(64):016x}", data) for _, data in shuffled])
    assert_maps(vols, FILM)
    assert sum(v.reads for v in vols) == 50 + 49 and max(v.reads for v in vols) == 2
    five = volumes([(f"{rng.getrandbits(64):016x}", data) for _, data in write_rar(FILM, version=5, volume_data=16_384)])
    assert_maps(five, FILM)
    assert [v.reads for v in five] == [1] * 50


@pytest.mark.parametrize("version", [4, 5])
def test_a_last_volume_as_long_as_the_others_has_its_end_header_read(version: int) -> None:
    # The film fills the last volume exactly: its head cannot tell whether a volume follows.
    exact = [("Film.mkv", random.Random(9).randbytes(5 * 16_384))]
    written = write_rar(exact, version=version, volume_data=16_384)
    vols = volumes(written)
    assert_maps(vols, exact)
    assert [v.reads for v in vols] == [1, 1, 1, 1, 2]
    # ... and a set cut after a volume that ends at a file boundary is refused by that header.
    two = [("a.mkv", bytes(2 * 16_384)), ("b.mkv", bytes(16_384))]
    cut = write_rar(two, version=version, volume_data=16_384)[:2]
    with pytest.raises(ArchiveRefused) as refused:
        map_archive(volumes(cut))
    assert refused.value.reason == "missing volume 3"


def test_a_header_longer_than_the_window_costs_one_more_read() -> None:
    long_name = [("L" * 3_000 + "/" + "M" * 2_000 + ".mkv", bytes(190_000))]
    vols = volumes(write_rar(long_name, version=5, volume_data=50_000))
    assert_maps(vols, long_name)
    assert [v.reads for v in vols] == [2, 2, 2, 2]


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("missing", [1, 24, 48])
def test_a_missing_middle_volume_of_a_film_is_refused_from_the_heads(version: int, missing: int) -> None:
    # Every middle piece is "split before and after" and as long as the next: the names (RAR4) or
    # the heads' numbers (RAR5) show the gap.
    vols = volumes(without_volume(write_rar(FILM, version=version, volume_data=16_384), missing))
    with pytest.raises(ArchiveRefused) as refused:
        map_archive(vols)
    assert refused.value.reason == f"missing volume {missing + 1}"
    assert max(v.reads for v in vols) == 1


def test_7z_reads_only_the_head_and_tail() -> None:
    big = [("Movie.mkv", bytes(1_000_000)), ("b.nfo", b"nfo")]
    data = seven_zip(big)
    vols = volumes([(f"m.7z.{k // 200_000 + 1:03d}", data[k : k + 200_000]) for k in range(0, len(data), 200_000)])
    assert_maps(vols, big)
    assert sum(v.bytes_read for v in vols) <= 16 * 1024


# Names.


def test_is_archive_set_by_names() -> None:
    assert is_archive_set(["a.rar", "a.r00", "a.r01", "a.sfv", "a.nfo"])
    assert is_archive_set(["a.part01.rar", "a.part02.rar"])
    assert is_archive_set(["a.7z.001", "a.7z.002"]) and is_archive_set(["a.7z"])
    assert not is_archive_set(["a.mkv", "a.rar"])
    assert not is_archive_set(["a.nfo"]) and not is_archive_set([])
    assert archive_volumes(["a.nfo", "a.r00", "a.rar"]) == ["a.r00", "a.rar"]
