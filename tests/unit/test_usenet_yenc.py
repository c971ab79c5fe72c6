"""yEnc answers through our decoder (sabctools) and checks: damaged articles are refused, not returned."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators.usenet.wire import TERMINATOR, dot_stuff
from emulators.usenet.yenc import decode_body, encode_part
from gateway.usenet.nntp import ArticleNotFound, decode_article
from gateway.usenet.yenc import DamagedArticle, parse_ybegin


def wire(body: bytes) -> bytes:
    return b"222 0 <x@y>\r\n" + dot_stuff(body) + TERMINATOR


def test_a_part_decodes_with_its_offsets() -> None:
    data = bytes(range(256)) * 40
    part = decode_article(wire(encode_part(data, name="a b.mkv", file_size=50_000, part=3, total=7,
                                           begin=20_000)), "x@y")
    assert (part.name, part.file_size, part.part, part.total, part.begin, part.end) == \
        ("a b.mkv", 50_000, 3, 7, 20_000, 20_000 + len(data))
    assert part.data == data


def test_bad_crc_is_damaged() -> None:
    body = encode_part(b"hello world", name="f", file_size=11, part=1, total=1, begin=0, pcrc32=0x1234)
    with pytest.raises(DamagedArticle, match="CRC"):
        decode_article(wire(body), "x@y")


def test_truncated_and_foreign_bodies_are_damaged() -> None:
    body = encode_part(b"hello world", name="f", file_size=11, part=1, total=1, begin=0)
    with pytest.raises(DamagedArticle, match="=yend"):
        decode_article(wire(body.split(b"=yend")[0]), "x@y")
    with pytest.raises(DamagedArticle, match="not a yEnc"):
        decode_article(wire(b"just some text\r\n"), "x@y")


def test_a_part_that_does_not_fit_its_file_is_damaged() -> None:
    body = encode_part(b"x" * 100, name="f", file_size=50, part=1, total=1, begin=0)
    with pytest.raises(DamagedArticle, match="does not fit"):
        decode_article(wire(body), "x@y")


def test_430_is_not_found() -> None:
    with pytest.raises(ArticleNotFound):
        decode_article(b"430 no such article\r\n", "x@y")


def test_ybegin_fields() -> None:
    assert parse_ybegin(b"222 0 <a>\r\n=ybegin part=4 total=9 line=128 size=5 name=part=2 total=3.bin\r\n") == (4, 9)
    assert parse_ybegin(b"=ybegin line=128 size=5 name=x\r\n") == (1, 1)
    assert parse_ybegin(b"no header") == (1, 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(min_size=1, max_size=3000)
       | st.lists(st.sampled_from([0, 9, 10, 13, 32, 46, 61, 214, 224, 227, 19]), min_size=1, max_size=600).map(bytes),
       line=st.sampled_from([128, 1, 2, 3, 127]), escape_dot=st.booleans(), engine=st.sampled_from(["python", "auto"]),
       begin=st.integers(min_value=0, max_value=10_000))
def test_round_trip_matches_input_and_oracle(data: bytes, line: int, escape_dot: bool, engine: str,
                                             begin: int) -> None:
    """Every escape, dot-stuffing and line edge: our decode equals the input and the pure-Python oracle."""
    if engine == "auto" and (line != 128 or not escape_dot):
        engine = "python"
    size = begin + len(data)
    body = encode_part(data, name="n.bin", file_size=size, part=2, total=5, begin=begin, line_length=line,
                       engine=engine, escape_dot=escape_dot)
    part = decode_article(wire(body), "x@y")
    oracle = decode_body(body)
    assert part.data == data == oracle.data
    assert (part.begin, part.end) == (begin, size) == (oracle.begin - 1, oracle.end)
    assert (part.part, part.total, part.file_size) == (oracle.part, oracle.total, oracle.file_size)
