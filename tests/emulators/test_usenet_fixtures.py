"""Usenet release fixtures: yEnc round trips (our oracle and sabctools), the NZB as the
gateway's parser reads it, the PAR2 index as a reader written here reads it, 7z Copy sets."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path
from xml.etree import ElementTree

import py7zr
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.usenet import ArticleStore
from emulators.usenet.media import MKV_HEADER, lazy_media, media_bytes, media_range
from emulators.usenet.par2 import HEAD_16K, MAGIC, TYPE_FILEDESC, TYPE_MAIN
from emulators.usenet.release import NZB_NS, build_release
from emulators.usenet.sample import sample_release
from emulators.usenet.sevenzip import LZMA2, sevenzip_archive, sevenzip_set
from emulators.usenet.wire import dot_stuff, dot_unstuff
from emulators.usenet.yenc import decode_body, encode_data, encode_part
from gateway.imports.nzb import parse_nzb

sabctools = pytest.importorskip("sabctools")

# Bytes that become the characters the encoder must take care of: after the +42 shift
# 0xD6 -> NUL, 0xE0 -> LF, 0xE3 -> CR, 0x13 -> '=', 0xDF -> TAB, 0xF6 -> space, 0x04 -> '.'.
EDGY = bytes([0xD6, 0xE0, 0xE3, 0x13, 0xDF, 0xF6, 0x04])
edgy_bytes = st.lists(st.one_of(st.sampled_from(list(EDGY)), st.integers(0, 255)), max_size=1200).map(bytes)


def _body(store: ArticleStore, message_id: str) -> bytes:
    art = store.get(message_id)
    assert art is not None, message_id
    return art.body()


def _sab_decode(body: bytes) -> tuple[bytes, int | None, int | None]:
    """The product's decoder over the wire form: data, crc (None if wrong), expected crc."""
    wire = b"222 0 <x@y> body\r\n" + dot_stuff(body) + b".\r\n"
    decoder = sabctools.Decoder(max(1 << 16, 2 * len(wire)))
    decoder.expect("x")
    memoryview(decoder)[:len(wire)] = wire
    decoder.process(len(wire))
    (resp,) = list(decoder)
    assert resp.status_code == 222
    return bytes(resp.data or b""), resp.crc, resp.crc_expected


@settings(max_examples=300, deadline=None)
@given(data=edgy_bytes, line=st.sampled_from([1, 2, 3, 7, 128]), escape_dot=st.booleans())
def test_yenc_python_engine_round_trip(data: bytes, line: int, escape_dot: bool) -> None:
    body = encode_part(data, name="n a.bin", file_size=len(data) + 10, part=1, total=2, begin=10,
                       line_length=line, engine="python", escape_dot=escape_dot)
    for ln in encode_data(data, line_length=line, engine="python", escape_dot=escape_dot).split(b"\r\n"):
        assert ln[:1] not in (b"\t", b" ") and ln[-1:] not in (b"\t", b" ")
        assert b"\n" not in ln and b"\r" not in ln and b"\x00" not in ln
        assert not (escape_dot and ln.startswith(b"."))
        assert len(ln) <= line + 3    # an escape kept whole plus two escaped edges
    wire = dot_stuff(body)
    assert not any(ln == b"." for ln in wire.split(b"\r\n"))
    part = decode_body(dot_unstuff(wire))
    assert part.data == data and part.crc_ok and part.name == "n a.bin"
    assert (part.begin, part.end, part.file_size) == (11, 10 + len(data), len(data) + 10)
    if line == 128 and data:
        assert _sab_decode(body)[0] == data


@settings(max_examples=200, deadline=None)
@given(data=edgy_bytes)
def test_yenc_sabctools_engine_round_trip(data: bytes) -> None:
    body = encode_part(data, name="f", file_size=len(data), part=1, total=1, begin=0, engine="sabctools")
    assert decode_body(dot_unstuff(dot_stuff(body))).data == data
    if data:
        got, crc, expected = _sab_decode(body)
        assert got == data and crc == expected


def test_yenc_line_edges_and_header_fields() -> None:
    data = b"\x04" + b"a" * 126 + b"\xf6" + b"\xdf" + b"b" * 10
    body = encode_part(data, name="x.mkv", file_size=1000, part=3, total=9, begin=500, engine="python")
    lines = body.split(b"\r\n")
    assert lines[0] == b"=ybegin part=3 total=9 line=128 size=1000 name=x.mkv"
    assert lines[1] == b"=ypart begin=501 end=639"
    assert lines[2].startswith(b"=n") and lines[2].endswith(b"=`")   # '.' first, space last
    assert lines[3].startswith(b"=I")                                   # TAB first
    assert lines[-2] == b"=yend size=139 part=3 pcrc32=%08x" % (zlib.crc32(data) & 0xFFFFFFFF)


def test_wrong_crc_option() -> None:
    body = encode_part(b"abc", name="f", file_size=3, part=1, total=1, begin=0, pcrc32=1)
    assert not decode_body(body).crc_ok
    _, crc, expected = _sab_decode(body)
    assert expected == 1 and crc is None


def test_nzb_is_read_by_the_gateway_parser_and_articles_rebuild_files() -> None:
    rel = build_release([("Show.S01E01.mkv", media_bytes("ep1", 70_000)), ("a.nfo", b"x")],
                        name="Show.S01E01", part_size=16_000, meta={"password": "pw"})
    meta = parse_nzb(rel.nzb)
    assert [n for n, _ in meta.files] == ["Show.S01E01.mkv", "a.nfo"]
    assert meta.files[0][1] == sum(s.bytes for s in rel.files[0].segments)
    root = ElementTree.fromstring(rel.nzb.split(b"\n", 2)[2])   # past the DOCTYPE
    ns = {"n": NZB_NS}
    assert {m.get("type"): m.text for m in root.iterfind("n:head/n:meta", ns)} == \
        {"name": "Show.S01E01", "password": "pw"}
    f0 = root.find("n:file", ns)
    assert f0 is not None and '"Show.S01E01.mkv"' in (f0.get("subject") or "") and "(1/5)" in (f0.get("subject") or "")
    segs = f0.findall("n:segments/n:segment", ns)
    assert [int(s.get("number") or 0) for s in segs] == [1, 2, 3, 4, 5]
    store = rel.store
    rebuilt = b"".join(decode_body(_body(store, s.text or "")).data for s in segs)
    assert rebuilt == media_bytes("ep1", 70_000)
    assert [s.size for s in rel.files[0].segments] == [16_000] * 4 + [6_000]


def test_shuffled_and_obfuscated_release_with_par2() -> None:
    rel = build_release([("Show.S01E01.mkv", media_bytes("ep1", 70_000)), ("a.nfo", b"x")],
                        name="Show.S01E01", part_size=16_000, obfuscate=True, shuffle_seed=7)
    names = [n for n, _ in parse_nzb(rel.nzb).files]
    assert len(names) == 3 and names[2].endswith(".par2") and "Show" not in "".join(names)
    root = ElementTree.fromstring(rel.nzb.split(b"\n", 2)[2])
    numbers = [int(s.get("number") or 0) for s in root.iter(f"{{{NZB_NS}}}segment")][:5]
    assert sorted(numbers) == [1, 2, 3, 4, 5] and numbers != [1, 2, 3, 4, 5]
    first = decode_body(_body(rel.store, rel.files[0].segments[0].message_id))
    assert first.name == rel.files[0].posted_name != "Show.S01E01.mkv"
    par2 = b"".join(decode_body(_body(rel.store, s.message_id)).data
                    for s in rel.files[2].segments)
    descs = _read_par2(par2)
    by_16k = {d["md5_16k"]: d for d in descs}
    for posted, real, data in ((rel.files[0], "Show.S01E01.mkv", media_bytes("ep1", 70_000)),
                               (rel.files[1], "a.nfo", b"x")):
        head = b"".join(decode_body(_body(rel.store, s.message_id)).data
                        for s in posted.segments)[:HEAD_16K]
        d = by_16k[hashlib.md5(head).digest()]
        assert d["name"] == real and d["size"] == len(data) and d["md5"] == hashlib.md5(data).digest()


def _read_par2(raw: bytes) -> list[dict[str, object]]:
    """A small independent PAR2 reader: checks every packet's MD5, the set id and the file ids."""
    pos, descs, main_ids, set_ids = 0, [], [], set()
    while pos < len(raw):
        magic, length, pkt_md5, set_id, kind = struct.unpack_from("<8sQ16s16s16s", raw, pos)
        assert magic == MAGIC and length % 4 == 0 and length >= 64
        assert hashlib.md5(raw[pos + 32:pos + length]).digest() == pkt_md5
        body = raw[pos + 64:pos + length]
        set_ids.add(set_id)
        if kind == TYPE_MAIN:
            _slice, count = struct.unpack_from("<QI", body)
            main_ids = [body[12 + 16 * i:28 + 16 * i] for i in range(count)]
            assert hashlib.md5(body).digest() == set_id
        elif kind == TYPE_FILEDESC:
            fid, md5, md5_16k = body[:16], body[16:32], body[32:48]
            (size,) = struct.unpack_from("<Q", body, 48)
            name = body[56:].rstrip(b"\0")
            assert hashlib.md5(md5_16k + struct.pack("<Q", size) + name).digest() == fid
            descs.append({"id": fid, "md5": md5, "md5_16k": md5_16k, "size": size, "name": name.decode()})
        pos += length
    assert len(set_ids) == 1 and sorted(main_ids) == sorted(d["id"] for d in descs)
    return descs


def _members(archive: bytes, where: Path) -> dict[str, bytes]:
    where.mkdir()
    with py7zr.SevenZipFile(io.BytesIO(archive), "r") as z:
        z.extractall(path=where)
    return {str(p.relative_to(where)): p.read_bytes() for p in where.rglob("*") if p.is_file()}


def _methods(archive: bytes) -> set[bytes]:
    with py7zr.SevenZipFile(io.BytesIO(archive), "r") as z:
        folders = z.header.main_streams.unpackinfo.folders
        return {c["method"] for f in folders for c in f.coders}


def test_7z_copy_single_and_multi_volume(tmp_path: Path) -> None:
    movie = media_bytes("7z", 300_000)
    (single,) = sevenzip_set("Movie", [("Movie.mkv", movie), ("Movie.nfo", b"nfo")])
    assert single[0] == "Movie.7z" and _members(single[1], tmp_path / "one") == {"Movie.mkv": movie, "Movie.nfo": b"nfo"}
    assert _methods(single[1]) == {b"\x00"}          # Copy
    assert single[1].find(movie) > 0                 # stored contiguous: a member is an extent
    vols = sevenzip_set("Movie", [("Movie.mkv", movie)], volume_size=100_000)
    assert [n for n, _ in vols] == ["Movie.7z.001", "Movie.7z.002", "Movie.7z.003", "Movie.7z.004"]
    assert all(len(v) == 100_000 for _, v in vols[:-1])
    assert _members(b"".join(v for _, v in vols), tmp_path / "vols") == {"Movie.mkv": movie}
    packed = sevenzip_archive([("Movie.mkv", movie)], filters=LZMA2)
    assert _methods(packed) != {b"\x00"} and packed.find(movie[:4096]) < 0


def test_media_and_lazy_release() -> None:
    whole = media_bytes("m", 50_000)
    assert whole.startswith(MKV_HEADER) and media_range("m", 50_000, 20, 100) == whole[20:120]
    rel = build_release([lazy_media("Big.mkv", 50_000, seed="m")], name="Big", part_size=16_000, par2=True)
    f = rel.file("Big.mkv")
    assert b"".join(decode_body(_body(rel.store, s.message_id)).data
                    for s in f.segments) == whole
    assert parse_nzb(rel.nzb).files[1][0] == "Big.par2"


def test_sample_release_for_the_demo() -> None:
    demo = sample_release(start=False, media_size=1 << 20)
    meta = parse_nzb(demo.nzb)
    assert meta.files[0][0].endswith(".mkv") and demo.server.knobs.username == demo.username
    assert len(demo.release.store) == sum(len(f.segments) for f in demo.release.files)
