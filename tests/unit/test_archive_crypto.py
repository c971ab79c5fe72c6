"""Encrypted stored RAR members: keys from the password (checked against rarfile's derivations),
the fixture writer's AES data read back through the mapping, CBC at random offsets, and the
refusals (no password, a wrong one, encrypted headers)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import rarfile
from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.archives import write_rar
from gateway.archives import ArchiveRefused, Member, map_archive
from gateway.archives.crypto import (
    BLOCK,
    Cipher,
    DecryptingStream,
    decrypt_range,
    padded,
    rar3_key_iv,
    rar5_check,
    rar5_key,
)
from gateway.library.members import open_member
from gateway.library.nzblayout import Layout, LayoutStore, Source
from gateway.library.nzblayout import Member as Member_
from gateway.store import Store
from tests.unit.test_archives import CountingVolume, volumes

PASSWORD = "corrëct horse"
VIDEO = b"\x1a\x45\xdf\xa3" + os.urandom(70_001)   # an mkv begins with the EBML magic
MEMBERS = [("Movie.mkv", VIDEO), ("Movie.srt", b"1\n00:00:01,000 --> 00:00:02,000\nhi\n")]


@pytest.mark.parametrize("password", ["pw", "x" * 40, "pässwörd ✓"])
def test_keys_agree_with_rarfiles_derivations(password: str) -> None:
    salt8, salt16 = os.urandom(8), os.urandom(16)
    assert rar3_key_iv(password, salt8) == rarfile.rar3_s2k(password, salt8)   # incl. the >28-char SHA-1 quirk
    assert rar5_key(password, salt16, 8) == rarfile.rar5_s2k(password, salt16, 1 << 8)


def test_the_rar5_check_value_is_the_one_rarfile_accepts() -> None:
    volume = write_rar(MEMBERS, version=5, encrypted="data", password=PASSWORD)[0][1]
    seen: list[rarfile.RarInfo] = []
    rarfile.RarFile(io.BytesIO(volume), part_only=True, info_callback=seen.append)
    _algo, _flags, lg2count, salt, _iv, check = seen[1].file_encryption
    assert rar5_check(PASSWORD, salt, lg2count) == check[:8]
    assert rar5_check("wrong", salt, lg2count) != check[:8]


def _member_bytes(member: Member, vols: list[CountingVolume]) -> bytes:
    return b"".join(vols[e.volume].data[e.offset:e.offset + e.length] for e in member.extents)


def _plain(member: Member, vols: list[CountingVolume], offset: int, length: int) -> bytes:
    packed = _member_bytes(member, vols)
    assert member.cipher is not None
    return decrypt_range(member.cipher, lambda o, n: packed[o:o + n], offset, length, member.size)


@pytest.mark.parametrize("version", [4, 5])
def test_an_encrypted_stored_set_maps_and_decrypts_across_volumes(version: int) -> None:
    vols = volumes(write_rar(MEMBERS, version=version, volume_data=16_001, encrypted="data", password=PASSWORD))
    assert len(vols) == 5
    got = map_archive(vols, PASSWORD)
    assert [(m.name, m.size) for m in got] == [(n, len(d)) for n, d in MEMBERS]
    for member, (_, data) in zip(got, MEMBERS, strict=True):
        assert member.cipher is not None and len(member.cipher.key) == (32 if version == 5 else 16)
        assert sum(e.length for e in member.extents) == padded(len(data))
        assert _member_bytes(member, vols) != data[:member.size]          # really ciphertext
        assert _plain(member, vols, 0, member.size) == data
        for offset in (15, 16, 16_000, 16_001, 32_010, len(data) - 3):
            assert _plain(member, vols, offset, 40) == data[offset:offset + 40]


@pytest.mark.parametrize("version", [4, 5])
def test_encrypted_sets_refuse_without_the_right_password(version: int) -> None:
    written = write_rar(MEMBERS, version=version, volume_data=30_000, encrypted="data", password=PASSWORD)
    for password, reason in [(None, "encrypted RAR"), ("", "encrypted RAR"), ("wrong", "wrong archive password")]:
        with pytest.raises(ArchiveRefused) as refused:
            map_archive(volumes(written), password)
        assert refused.value.reason == reason
    headers = write_rar(MEMBERS, version=version, encrypted="headers")
    with pytest.raises(ArchiveRefused) as refused:
        map_archive(volumes(headers), PASSWORD)
    assert refused.value.reason == "encrypted RAR headers"


class _Chunks:
    """A ciphertext stream that answers in odd-sized pieces (as article or HTTP reads do)."""

    def __init__(self, data: bytes, first: int, last: int, step: int) -> None:
        self.data, self.pos, self.end, self.step = data, first, last + 1, step
        self.closed = False

    def read(self, size: int) -> bytes:
        out = self.data[self.pos:min(self.end, self.pos + min(size, self.step))]
        self.pos += len(out)
        return out

    def close(self) -> None:
        self.closed = True


_KEY, _IV = os.urandom(32), os.urandom(16)


def _ciphertext(plain: bytes) -> bytes:
    from Cryptodome.Cipher import AES
    return AES.new(_KEY, AES.MODE_CBC, _IV).encrypt(plain + bytes(-len(plain) % BLOCK))


@settings(max_examples=150, deadline=None)
@given(size=st.integers(1, 3000), data=st.data())
def test_decrypt_range_and_the_stream_equal_slicing_the_whole_decryption(size: int, data: st.DataObject) -> None:
    plain = bytes((i * 31 + size) % 256 for i in range(size))
    packed = _ciphertext(plain)
    cipher = Cipher(_KEY, _IV)
    offset = data.draw(st.integers(0, size + 20))
    length = data.draw(st.integers(0, 600))
    got = decrypt_range(cipher, lambda o, n: packed[o:o + n], offset, length, size)
    assert got == plain[offset:offset + length]
    if offset < size and length:
        step = data.draw(st.integers(1, 100))
        last = offset + length - 1
        stream = DecryptingStream(cipher, lambda f, la: _Chunks(packed, f, la, step), offset, last, size)
        read = data.draw(st.integers(1, 50))
        out = b""
        while chunk := stream.read(read):
            assert len(chunk) <= read
            out += chunk
        stream.close()
        assert out == plain[offset:last + 1]


def test_open_member_decrypts_a_members_extents_through_the_opener() -> None:
    vols = volumes(write_rar(MEMBERS, version=5, volume_data=16_001, encrypted="data", password=PASSWORD))
    member = map_archive(vols, PASSWORD)[0]

    def opener(volume: int, first: int, last: int) -> _Chunks:
        return _Chunks(vols[volume].data, first, last, 7_777)

    for start, end in [(0, None), (16_000, 16_040), (32_001, 48_100), (len(VIDEO) - 5, None)]:
        stream = open_member(member.extents, opener, start, end, member.cipher, member.size)
        out = b""
        while chunk := stream.read(5_000):
            out += chunk
        stream.close()
        assert out == VIDEO[start:None if end is None else end + 1]


def test_a_members_cipher_survives_the_layout_store(tmp_path: Path) -> None:
    """A restart reads encrypted members at once: their key and IV are stored with the layout."""
    cipher = Cipher(os.urandom(32), os.urandom(16))
    layout = Layout("job1", (Source("a.part1.rar", 1500, 1000, ("<a1@x>", "<a2@x>")),),
                    (Member_("Show/a.mkv", 1400, ((0, 100, 1408),), cipher), Member_("Show/a.nfo", 3, ((0, 10, 3),))))
    store = Store(tmp_path / "d.db")
    LayoutStore(store).save(layout)
    assert LayoutStore(store).get("job1") == layout    # a fresh store object reads the database
