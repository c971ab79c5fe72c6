"""gateway.torrentid: the one home of bencode, the info-span infohash and magnet btihs."""

from __future__ import annotations

import base64
import hashlib

import pytest

from gateway.torrentid import TorrentMetaError, bdecode_spans, bencode, btih, info_hash

# Sonarr's own test vector (arr-protocol.md §2).
B32 = "ZPBPA2P6ROZPKRHK44D5OW6NHXU5Z6KR"
B32_HEX = "cbc2f069fe8bb2f544eae707d75bcd3de9dcf951"


@pytest.mark.parametrize("value", [B32, B32.lower(), B32_HEX, B32_HEX.upper()])
def test_btih_reads_hex_and_base32_in_either_case(value: str) -> None:
    assert btih(value) == B32_HEX


def test_btih_base32_round_trips_any_digest() -> None:
    digest = hashlib.sha1(b"any").digest()
    assert btih(base64.b32encode(digest).decode()) == digest.hex()


@pytest.mark.parametrize("value", [
    "",
    B32_HEX[:-1],                         # 39 hex digits
    "g" * 40,                             # 40 characters, not hex
    "1" * 32,                             # '1' is not in the base32 alphabet
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAA====",   # padded base32 decodes to fewer than 20 bytes
    B32 + "A",
])
def test_btih_refuses_anything_else(value: str) -> None:
    with pytest.raises(TorrentMetaError, match="invalid btih"):
        btih(value)


def test_info_hash_is_sha1_of_the_raw_info_span_not_a_reencoding() -> None:
    # Keys out of order inside info: re-encoding would sort them and change the hash.
    raw_info = b"d6:lengthi5e4:name1:x12:piece lengthi16e6:pieces20:" + b"\x01" * 20 + b"e"
    unsorted = b"d4:name1:x6:lengthi5e12:piece lengthi16e6:pieces20:" + b"\x01" * 20 + b"e"
    for info in (raw_info, unsorted):
        data = b"d8:announce3:abc4:info" + info + b"e"
        assert info_hash(data) == hashlib.sha1(info).hexdigest()
        assert bdecode_spans(data)[1][b"info"] == info


@pytest.mark.parametrize("data", [bencode({"announce": "x"}), bencode([1, 2]), b"d4:infoi1ee", b"d4:info"])
def test_info_hash_refuses_a_file_without_an_info_dict(data: bytes) -> None:
    with pytest.raises(TorrentMetaError):
        info_hash(data)
