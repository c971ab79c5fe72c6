"""Torrent identity: bencode, .torrent parsing, magnets; malformed input only ever raises TorrentMetaError."""

from __future__ import annotations

import base64
import hashlib
import random
from urllib.parse import quote

import pytest

from gateway.imports.torrentmeta import (
    Magnet,
    TorrentMeta,
    TorrentMetaError,
    bdecode,
    bencode,
    magnet_from_meta,
    make_torrent_file,
    parse_magnet,
    parse_torrent_file,
)

# Sonarr's own test vector (arr-protocol.md §2).
B32 = "ZPBPA2P6ROZPKRHK44D5OW6NHXU5Z6KR"
B32_HEX = "cbc2f069fe8bb2f544eae707d75bcd3de9dcf951"


def _info(name: str = "Show.S01E01.mkv", length: int = 1000) -> dict[str, object]:
    return {"name": name, "piece length": 16384, "pieces": b"\x01" * 20, "length": length}


# ------------------------------------------------------------------ bencode


def test_bdecode_values() -> None:
    assert bdecode(b"i42e") == 42
    assert bdecode(b"i-7e") == -7
    assert bdecode(b"i0e") == 0
    assert bdecode(b"0:") == b""
    assert bdecode(b"4:spam") == b"spam"
    assert bdecode(b"l4:spami1ee") == [b"spam", 1]
    assert bdecode(b"d3:cow3:moo4:spaml1:a1:bee") == {b"cow": b"moo", b"spam": [b"a", b"b"]}


def test_bencode_round_trip() -> None:
    value = {"b": [1, -2, b"\xff", "é"], "a": {"x": 0}}
    encoded = bencode(value)
    assert encoded == b"d1:ad1:xi0ee1:bli1ei-2e1:\xff2:\xc3\xa9ee"
    assert bdecode(encoded) == {b"a": {b"x": 0}, b"b": [1, -2, b"\xff", "é".encode()]}


def test_bencode_rejects_unknown_types() -> None:
    with pytest.raises(TypeError):
        bencode(1.5)
    with pytest.raises(TypeError):
        bencode(True)


@pytest.mark.parametrize("data", [
    b"",                      # empty
    b"i42",                   # truncated int
    b"ie", b"i-e", b"i1x2e",  # not a number
    b"i03e", b"i-0e", b"i-03e",  # leading zero, negative zero
    b"03:abc",                # leading zero in a length
    b"5:abc",                 # longer than the data
    b"4spam",                 # no colon
    b"l4:spam",               # unterminated list
    b"d3:cow",                # dict without value
    b"di1e3:mooe",            # non-string key
    b"d1:ai1e1:ai2ee",        # duplicate key
    b"i1ei2e", b"4:spamx",    # trailing garbage
    b"x", b"-1:", b"99999999999999999999999:a",
    b"l" * 65 + b"e" * 65,    # nested too deep
])
def test_bdecode_rejects_malformed(data: bytes) -> None:
    with pytest.raises(TorrentMetaError):
        bdecode(data)


def test_bdecode_nesting_limit_is_64() -> None:
    assert bdecode(b"l" * 64 + b"e" * 64) is not None


def test_bdecode_rejects_non_bytes() -> None:
    with pytest.raises(TorrentMetaError):
        bdecode("i1e")


# ------------------------------------------------------------ .torrent files


def test_single_file_torrent_known_infohash() -> None:
    data = make_torrent_file("Movie.2020.mkv", [("Movie.2020.mkv", 123456)], trackers=["udp://t.example:80"])
    info = bdecode(data)[b"info"]
    expected = hashlib.sha1(bencode(info)).hexdigest()
    meta = parse_torrent_file(data)
    assert meta == TorrentMeta(infohash=expected, name="Movie.2020.mkv", files=(("Movie.2020.mkv", 123456),),
                               total_size=123456, trackers=("udp://t.example:80",))


def test_multi_file_torrent() -> None:
    files = [("Season 1/S01E01.mkv", 700_000), ("Season 1/S01E02.mkv", 800_000), ("info.nfo", 10)]
    meta = parse_torrent_file(make_torrent_file("Show.S01", files, seed="x"))
    assert meta.name == "Show.S01"
    assert meta.files == tuple(files)
    assert meta.total_size == 1_500_010
    assert meta.trackers == ()
    assert len(meta.infohash) == 40 and meta.infohash == meta.infohash.lower()


def test_seed_changes_infohash() -> None:
    a = parse_torrent_file(make_torrent_file("x", [("x", 5)], seed="a"))
    b = parse_torrent_file(make_torrent_file("x", [("x", 5)], seed="b"))
    assert a.infohash != b.infohash


def test_infohash_uses_raw_info_bytes_not_reencoding() -> None:
    # Unsorted keys are non-canonical: re-encoding would sort them and change the hash.
    raw_info = b"d6:lengthi5e4:name1:x6:pieces20:" + b"\x02" * 20 + b"12:piece lengthi16384ee"
    data = b"d4:info" + raw_info + b"e"
    meta = parse_torrent_file(data)
    assert meta.infohash == hashlib.sha1(raw_info).hexdigest()
    assert meta.infohash != hashlib.sha1(bencode(bdecode(raw_info))).hexdigest()


def test_utf8_variants_and_invalid_utf8() -> None:
    info = {
        "name": b"\xff\xfeold", "name.utf-8": "Café", "piece length": 16384, "pieces": b"",
        "files": [{"length": 3, "path": [b"a\xff"], "path.utf-8": ["é", "b.mkv"]},
                  {"length": 4, "path": [b"bad\xff.mkv"]}],
    }
    meta = parse_torrent_file(bencode({"info": info}))
    assert meta.name == "Café"
    assert meta.files == (("é/b.mkv", 3), ("bad\ufffd.mkv", 4))


def test_path_components_cannot_escape() -> None:
    info = {"name": "..", "piece length": 16384, "pieces": b"",
            "files": [{"length": 1, "path": ["..", "a/b", ""]}]}
    meta = parse_torrent_file(bencode({"info": info}))
    assert meta.name == "_"
    assert meta.files == (("_/a_b/_", 1),)


def test_hybrid_torrent_uses_v1_hash_and_skips_padding() -> None:
    info = {"name": "h", "piece length": 16384, "pieces": b"\x03" * 20, "meta version": 2,
            "file tree": {"a": {"": {"length": 10, "pieces root": b"\x00" * 32}}},
            "files": [{"length": 10, "path": ["a"]}, {"length": 16374, "path": [".pad", "16374"], "attr": "p"}]}
    meta = parse_torrent_file(bencode({"info": info}))
    assert meta.infohash == hashlib.sha1(bencode(info)).hexdigest()
    assert meta.files == (("a", 10),)
    assert meta.total_size == 10


def test_v2_only_rejected() -> None:
    info = {"name": "v2", "piece length": 16384, "meta version": 2,
            "file tree": {"a": {"": {"length": 10, "pieces root": b"\x00" * 32}}}}
    with pytest.raises(TorrentMetaError, match="v2-only torrents are not supported"):
        parse_torrent_file(bencode({"info": info}))


def test_trackers_from_announce_list_deduplicated() -> None:
    root = {"announce": "http://a/ann", "announce-list": [["http://a/ann", "http://b/ann"], [b"udp://c:1"], 7],
            "info": _info()}
    assert parse_torrent_file(bencode(root)).trackers == ("http://a/ann", "http://b/ann", "udp://c:1")


def _without(info: dict[str, object], key: str) -> dict[str, object]:
    return {k: v for k, v in info.items() if k != key}


def _multi(**extra: object) -> dict[str, object]:
    return {**_without(_info(), "length"), **extra}


@pytest.mark.parametrize("root", [
    [],                                             # not a dict
    {"announce": "x"},                              # no info
    {"info": "text"},                               # info not a dict
    {"info": _without(_info(), "pieces")},          # no pieces, not v2
    {"info": {**_info(), "pieces": b"\x00" * 19}},  # pieces not a multiple of 20
    {"info": {**_info(), "name": 5}},               # bad name
    {"info": _without(_info(), "name")},            # no name
    {"info": {**_info(), "length": -1}},            # negative length
    {"info": {**_info(), "files": []}},             # both length and files
    {"info": _without(_info(), "length")},          # neither
    {"info": _multi(files=[])},                     # empty files
    {"info": _multi(files=[{"length": 1}])},        # no path
    {"info": _multi(files=[{"length": 1, "path": []}])},  # empty path
    {"info": _multi(files=[{"length": 1, "path": [3]}])},  # path part not a string
    {"info": _multi(files=[{"path": ["a"]}])},      # no length
    {"info": _multi(files=["a"])},                  # entry not a dict
])
def test_invalid_torrents_rejected(root: object) -> None:
    with pytest.raises(TorrentMetaError):
        parse_torrent_file(bencode(root))


def test_fuzz_truncations_and_bit_flips_only_raise_torrentmetaerror() -> None:
    data = make_torrent_file("Show.S02", [("e1.mkv", 5_000_000), ("sub/e2.mkv", 7)], seed="fuzz",
                             trackers=["http://tracker/announce"])
    rng = random.Random(1234)
    samples = [data[:i] for i in range(len(data))]
    for _ in range(3000):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
        samples.append(bytes(mutated))
    samples += [data + b"e", data * 2, bytes(rng.randrange(256) for _ in range(200))]
    for sample in samples:
        try:
            meta = parse_torrent_file(sample)
        except TorrentMetaError:
            continue
        assert isinstance(meta, TorrentMeta) and len(meta.infohash) == 40


# ---------------------------------------------------------------- magnets


def test_magnet_hex_and_base32_agree() -> None:
    hexed = parse_magnet(f"magnet:?xt=urn:btih:{B32_HEX.upper()}")
    based = parse_magnet(f"magnet:?xt=urn:btih:{B32}")
    lower_b32 = parse_magnet(f"MAGNET:?XT=URN:BTIH:{B32.lower()}")
    assert hexed.infohash == based.infohash == lower_b32.infohash == B32_HEX
    assert base64.b32decode(B32).hex() == B32_HEX


def test_magnet_fields() -> None:
    uri = ("magnet:?xt=urn:btmh:1220" + "ab" * 32 + "&xt=urn:btih:" + B32_HEX
           + "&dn=Some%20Show+S01&tr=" + quote("udp://t.one:80/announce", safe="")
           + "&tr=http%3A%2F%2Ft.two%2Fann&tr=http%3A%2F%2Ft.two%2Fann")
    magnet = parse_magnet("  " + uri + "\n")
    assert magnet == Magnet(infohash=B32_HEX, name="Some Show S01",
                            trackers=("udp://t.one:80/announce", "http://t.two/ann"), uri=uri)


def test_magnet_numbered_xt_and_no_name() -> None:
    magnet = parse_magnet(f"magnet:?xt.1=urn:btih:{B32_HEX}")
    assert magnet.infohash == B32_HEX and magnet.name == "" and magnet.trackers == ()


@pytest.mark.parametrize("uri, message", [
    ("magnet:?dn=x", "no btih"),
    ("magnet:?xt=urn:btmh:1220" + "ab" * 32, "no btih"),
    ("http://example.com/x.torrent", "not a magnet"),
    ("", "not a magnet"),
    ("magnet:?xt=urn:btih:1234", "invalid btih"),
    ("magnet:?xt=urn:btih:" + "g" * 40, "invalid btih"),
    ("magnet:?xt=urn:btih:" + "1" * 32, "invalid btih"),  # '1' is not base32
])
def test_bad_magnets(uri: str, message: str) -> None:
    with pytest.raises(TorrentMetaError, match=message):
        parse_magnet(uri)


def test_magnet_from_meta_round_trip() -> None:
    data = make_torrent_file("A & B #1", [("A & B #1", 10)], trackers=["http://t/a?x=1&y=2", "udp://u:1"])
    meta = parse_torrent_file(data)
    uri = magnet_from_meta(meta)
    assert uri.startswith(f"magnet:?xt=urn:btih:{meta.infohash}&dn=")
    magnet = parse_magnet(uri)
    assert (magnet.infohash, magnet.name, magnet.trackers) == (meta.infohash, meta.name, meta.trackers)
