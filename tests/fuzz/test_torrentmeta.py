"""Fuzzing the .torrent (bencode) and magnet readers: only TorrentMetaError, exact infohashes."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.imports.torrentmeta import TorrentMetaError, parse_magnet, parse_torrent_file
from tests.fuzz import FUZZ

HEX40 = re.compile(r"[0-9a-f]{40}")


# ------------------------------------------------------------------ our own encoder

def enc(value: object) -> bytes:
    """Bencode with dict items in the order given (a list of pairs), so tests can write
    non-canonical files: the infohash must hash the bytes as written, never a re-encoding."""
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, Pairs):
        return b"d" + b"".join(enc(k) + enc(v) for k, v in value) + b"e"
    if isinstance(value, list):
        return b"l" + b"".join(enc(v) for v in value) + b"e"
    raise TypeError(type(value))


class Pairs(list):
    """A bencode dictionary as an ordered list of (key, value) pairs."""


def reference_component(part: str) -> str:
    part = part.replace("/", "_").replace("\\", "_").replace("\x00", "_")
    return "_" if part in ("", ".", "..") else part


# ------------------------------------------------------------------ strategies

names = st.text(min_size=0, max_size=30)
sizes = st.integers(min_value=0, max_value=1 << 50)
keys = st.binary(max_size=8)

bencode_values = st.recursive(
    st.integers(min_value=-(1 << 70), max_value=1 << 70) | st.binary(max_size=30),
    lambda inner: st.lists(inner, max_size=5)
    | st.lists(st.tuples(keys, inner), max_size=5, unique_by=lambda kv: kv[0]).map(Pairs),
    max_leaves=20,
)


@st.composite
def torrents(draw: st.DrawFn) -> tuple[bytes, bytes, str, list[tuple[str, int]]]:
    """(file bytes, raw info span, expected name, expected files) of a valid v1 torrent,
    keys in random order, with random extra keys inside and outside ``info``."""
    name = draw(names)
    single = draw(st.booleans())
    info: list[tuple[str, object]] = [("name", name), ("piece length", 16384),
                                      ("pieces", draw(st.binary(min_size=0, max_size=3)) * 20)]
    if single:
        size = draw(sizes)
        info.append(("length", size))
        expected = [(reference_component(name), size)]
    else:
        entries = draw(st.lists(st.tuples(st.lists(names, min_size=1, max_size=4), sizes), min_size=1, max_size=6))
        info.append(("files", [Pairs([("length", s), ("path", p)]) for p, s in entries]))
        expected = [("/".join(reference_component(c) for c in p), s) for p, s in entries]
    info += draw(st.lists(st.tuples(st.sampled_from(["private", "source", "x-extra"]), bencode_values),
                          max_size=2, unique_by=lambda kv: kv[0]))
    info_raw = enc(Pairs(draw(st.permutations(info))))
    root = [("info", info_raw), ("announce", draw(st.text(max_size=20))), ("comment", draw(bencode_values))]
    body = b"".join(enc(k) + (v if k == "info" else enc(v)) for k, v in draw(st.permutations(root)))
    return b"d" + body + b"e", info_raw, reference_component(name), expected


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid torrent with a few bytes changed, cut, or inserted: mostly almost-valid input."""
    data = bytearray(draw(torrents())[0])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] = draw(st.sampled_from(b"0123456789ield:-e\x00\xff"))
        elif op == "cut":
            del data[at:at + draw(st.integers(1, 8))]
        elif op == "insert":
            data[at:at] = draw(st.sampled_from([b"i-0e", b"i01e", b"0:", b"99999999999999999999:", b"l", b"d", b"e",
                                                b"4:info", b"i" + b"9" * 80 + b"e", b"-", b":"]))
        else:
            del data[at:]
    return bytes(data)


# ------------------------------------------------------------------ .torrent properties

def _parse_or_refuse(data: object) -> None:
    try:
        meta = parse_torrent_file(data)
    except TorrentMetaError:
        return
    assert HEX40.fullmatch(meta.infohash)
    assert meta.name and "/" not in meta.name and "\x00" not in meta.name and meta.name not in (".", "..")
    for path, size in meta.files:
        assert size >= 0
        assert all(part not in ("", ".", "..") and "\x00" not in part for part in path.split("/"))
    assert meta.total_size == sum(size for _, size in meta.files)


@FUZZ
@given(st.binary(max_size=300) | mutated() | bencode_values.map(enc))
def test_any_bytes_give_a_torrent_or_torrentmetaerror(data: bytes) -> None:
    _parse_or_refuse(data)


@FUZZ
@given(st.text(max_size=50) | st.none() | st.integers() | st.lists(st.binary(max_size=4), max_size=3))
def test_not_bytes_is_a_torrentmetaerror(data: object) -> None:
    with pytest.raises(TorrentMetaError):
        parse_torrent_file(data)


@FUZZ
@given(torrents())
def test_a_valid_torrent_hashes_its_raw_info_and_round_trips(case: tuple[bytes, bytes, str, list[tuple[str, int]]]) -> None:
    data, info_raw, name, files = case
    meta = parse_torrent_file(data)
    assert meta.infohash == hashlib.sha1(info_raw).hexdigest()
    assert meta.name == name
    assert list(meta.files) == files
    assert meta.total_size == sum(size for _, size in files)


# ------------------------------------------------------------------ magnets

def _case_mix(draw: st.DrawFn, text: str) -> str:
    flags = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if up else c.lower() for c, up in zip(text, flags, strict=True))


@st.composite
def magnets(draw: st.DrawFn) -> tuple[str, str, str, list[str]]:
    digest = draw(st.binary(min_size=20, max_size=20))
    encoded = digest.hex() if draw(st.booleans()) else base64.b32encode(digest).decode()
    name = draw(st.text(max_size=20))
    trackers = draw(st.lists(st.text(min_size=1, max_size=20), max_size=3, unique=True))
    parts = [f"xt=urn:btih:{_case_mix(draw, encoded)}"]
    if name:
        parts.append(f"dn={quote(name, safe='')}")
    parts += [f"tr={quote(t, safe='')}" for t in trackers]
    parts += draw(st.lists(st.sampled_from(["x.pe=1.2.3.4:5", "ws=http%3A%2F%2Fa", "junk", "&", "=x", "so=0-3"]),
                           max_size=3))
    order = draw(st.permutations(parts))
    in_order = sorted(trackers, key=lambda t: order.index(f"tr={quote(t, safe='')}"))
    return "magnet:?" + "&".join(order), digest.hex(), name, in_order


@FUZZ
@given(magnets())
def test_a_magnet_gives_its_hash_in_lower_hex(case: tuple[str, str, str, list[str]]) -> None:
    uri, hexhash, name, trackers = case
    magnet = parse_magnet(uri)
    assert magnet.infohash == hexhash
    assert magnet.name == name
    assert list(magnet.trackers) == trackers


junk_magnets = st.builds(
    lambda tail: "magnet:?" + tail,
    st.lists(st.sampled_from(["xt=urn:btih:", "xT.1=URN:BTIH:", "dn=", "tr=", "&", "=", "%", "%zz", "+", "a"])
             | st.text(max_size=5) | st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=abcdef0123456789", max_size=45),
             max_size=6).map("".join),
)


@FUZZ
@given(junk_magnets | st.text(max_size=80) | st.none() | st.binary(max_size=10))
def test_any_magnet_string_gives_40_hex_or_torrentmetaerror(uri: object) -> None:
    try:
        magnet = parse_magnet(uri)
    except TorrentMetaError:
        return
    assert HEX40.fullmatch(magnet.infohash), magnet


@FUZZ
@given(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=", min_size=32, max_size=32))
def test_a_32_character_btih_is_20_bytes_or_refused(btih: str) -> None:
    try:
        magnet = parse_magnet(f"magnet:?xt=urn:btih:{btih}")
    except TorrentMetaError:
        return
    assert HEX40.fullmatch(magnet.infohash)
    assert base64.b32encode(bytes.fromhex(magnet.infohash)).decode() == btih


# ------------------------------------------------------------------ findings, as named examples

@pytest.mark.parametrize("btih", [
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAA====",   # padded base32: decoded to 17 bytes, a 34-digit "infohash"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
    "AAAAAAAAAAAAAAAAAAAAAAAAA=======",
])
def test_padded_base32_btih_is_refused(btih: str) -> None:
    with pytest.raises(TorrentMetaError, match="invalid btih"):
        parse_magnet(f"magnet:?xt=urn:btih:{btih}")


def test_unsorted_info_keys_hash_as_written() -> None:
    """A non-canonical (unsorted) info dict must be hashed as written, never re-encoded."""
    info = b"d4:name1:a6:lengthi1e12:piece lengthi16384e6:pieces20:" + b"x" * 20 + b"e"
    meta = parse_torrent_file(b"d4:info" + info + b"e")
    assert meta.infohash == hashlib.sha1(info).hexdigest() == "f9295a80ace5766edb187c4ec02346ac80568136"
