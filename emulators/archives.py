"""RAR4 and RAR5 fixture writer: stored (and deliberately unstreamable) archive sets.

No free tool writes RAR, so the emulators write it themselves from the published format notes
(RAR 4.x technote, RAR 5.0 archive format). This is the tests' independent oracle for the
gateway's archive layer: it never imports gateway/fs/api, and rarfile (a third party) checks
that what it writes is a real archive (tests/unit/test_archives.py).

``write_rar`` returns the volumes as ``(file name, bytes)`` in volume order. Options:

- ``version`` 4 or 5; ``volume_data``: member bytes per volume (None: one volume);
- ``naming``: ``"old"`` (``.rar, .r00, .r01 ...``, RAR4 only) or ``"new"`` (``.partNN.rar``);
- ``compressed``: member names written with method "normal" (the data is left as it is: only
  the headers say compressed, which is all a header parser sees);
- ``solid``: the archive's solid flag (and each later file's solid bit);
- ``encrypted``: ``"headers"`` (RAR4 password flag on the main header / RAR5 encryption
  header: every later header is ciphertext; random bytes stand for it) or ``"data"``: the
  files' data really encrypted with ``password`` (a random one when None), as RAR writes a
  stored encrypted file: the plaintext padded to 16 bytes, one AES-CBC stream per file split
  across the volumes, the unpacked size the real one. RAR5: AES-256, key by PBKDF2-HMAC-SHA256
  (2^15 rounds), the file encryption record with salt, IV and the password check value in every
  volume's header of the file; RAR4: AES-128 with RAR 3.x's SHA-1 key and IV from an 8-byte salt
  in each file header. The keys come from rarfile's own derivations (``rar3_s2k``,
  ``rar5_s2k``), so this oracle shares no key code with the gateway; AES is pycryptodomex.

``without_volume`` and ``truncate_volume`` make the broken sets.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import rarfile
from Cryptodome.Cipher import AES

RAR4_SIGNATURE = b"Rar!\x1a\x07\x00"
RAR5_SIGNATURE = b"Rar!\x1a\x07\x01\x00"

# RAR4 block types and flags (technote names in comments).
_R4_MAIN, _R4_FILE, _R4_END = 0x73, 0x74, 0x7B
_R4_LONG_BLOCK = 0x8000  # ADD_SIZE (the packed data size) follows HEAD_SIZE
_R4_MAIN_VOLUME, _R4_MAIN_SOLID, _R4_MAIN_NEWNUMBERING = 0x0001, 0x0008, 0x0010
_R4_MAIN_PASSWORD, _R4_MAIN_FIRSTVOLUME = 0x0080, 0x0100
_R4_FILE_SPLIT_BEFORE, _R4_FILE_SPLIT_AFTER, _R4_FILE_PASSWORD = 0x01, 0x02, 0x04
_R4_FILE_SOLID, _R4_FILE_LARGE, _R4_FILE_UNICODE, _R4_FILE_SALT = 0x10, 0x100, 0x200, 0x400
_R4_END_NEXT_VOLUME, _R4_END_DATACRC, _R4_END_VOLNR = 0x0001, 0x0002, 0x0008
_R4_STORE, _R4_NORMAL = 0x30, 0x33
_DOS_TIME = ((2020 - 1980) << 25) | (1 << 21) | (1 << 16)  # 2020-01-01 00:00:00

# RAR5 header types and flags.
_R5_MAIN, _R5_FILE, _R5_ENCRYPTION, _R5_END = 1, 2, 4, 5
_R5_HAS_EXTRA, _R5_HAS_DATA, _R5_SPLIT_BEFORE, _R5_SPLIT_AFTER = 0x01, 0x02, 0x08, 0x10
_R5_MAIN_VOLUME, _R5_MAIN_HAS_VOLNR, _R5_MAIN_SOLID = 0x01, 0x02, 0x04
_R5_FILE_HAS_CRC = 0x04
_R5_FILE_ENCRYPTION_RECORD = 0x01
_R5_ENCRYPTION_CHECK = 0x01   # the record carries the password check value
_R5_LG2COUNT = 15
_R5_END_NOT_LAST = 0x01


@dataclass(frozen=True)
class _Piece:
    """One member's bytes inside one volume."""

    index: int  # member index
    start: int
    end: int
    split_before: bool
    split_after: bool


@dataclass(frozen=True)
class _Stored:
    """One member as the volumes hold it: its packed bytes (ciphertext when encrypted), its real
    size and CRC, and for an encrypted one the header fields (RAR4 salt; RAR5 record)."""

    name: str
    packed: bytes
    size: int
    crc: int
    salt: bytes = b""
    record: bytes = b""


def _store(name: str, data: bytes, version: int, password: str | None) -> _Stored:
    crc = zlib.crc32(data)
    if password is None:
        return _Stored(name, data, len(data), crc)
    plain = data + bytes(-len(data) % 16)
    if version == 4:
        salt = os.urandom(8)
        key, iv = rarfile.rar3_s2k(password, salt)
        return _Stored(name, AES.new(key, AES.MODE_CBC, iv).encrypt(plain), len(data), crc, salt=salt)
    salt, iv = os.urandom(16), os.urandom(16)
    key = rarfile.rar5_s2k(password, salt, 1 << _R5_LG2COUNT)
    chain = rarfile.rar5_s2k(password, salt, (1 << _R5_LG2COUNT) + 32)
    check = bytearray(8)
    for i, byte in enumerate(chain):
        check[i % 8] ^= byte
    check += hashlib.sha256(bytes(check)).digest()[:4]
    record = vint(_R5_FILE_ENCRYPTION_RECORD) + vint(0) + vint(_R5_ENCRYPTION_CHECK) + bytes([_R5_LG2COUNT])
    record += salt + iv + bytes(check)
    return _Stored(name, AES.new(key, AES.MODE_CBC, iv).encrypt(plain), len(data), crc, record=record)


def vint(value: int) -> bytes:
    """RAR5 variable-length integer: 7 bits per byte, low first, high bit = more follows."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _layout(sizes: Sequence[int], volume_data: int | None) -> list[list[_Piece]]:
    """Pack the members' bytes into volumes of at most ``volume_data`` data bytes each."""
    cap = volume_data if volume_data else max(1, sum(sizes))
    volumes: list[list[_Piece]] = [[]]
    room = cap
    for index, size in enumerate(sizes):
        done = 0
        while True:
            if room == 0 and (size - done > 0 or volumes[-1]):
                volumes.append([])
                room = cap
            take = min(room, size - done)
            last = done + take == size
            volumes[-1].append(_Piece(index, done, done + take, done > 0, not last))
            done += take
            room -= take
            if last:
                break
    return volumes


def volume_names(base: str, count: int, version: int, naming: str | None) -> list[str]:
    """The volume file names: ``base.rar, base.r00 ...`` (old) or ``base.partNN.rar`` (new)."""
    style = naming or ("old" if version == 4 else "new")
    if count == 1:
        return [f"{base}.rar"]
    if style == "old":
        names = [f"{base}.rar"]
        for k in range(count - 1):
            letter = chr(ord("r") + k // 100)
            names.append(f"{base}.{letter}{k % 100:02d}")
        return names
    width = max(2, len(str(count)))
    return [f"{base}.part{n:0{width}d}.rar" for n in range(1, count + 1)]


def _rar4_block(kind: int, flags: int, body: bytes, add_size: int | None = None) -> bytes:
    """A RAR4 block header: CRC16 (low half of CRC32 of the rest), type, flags, size, body."""
    if add_size is not None:
        flags |= _R4_LONG_BLOCK
        body = struct.pack("<I", add_size & 0xFFFFFFFF) + body
    rest = struct.pack("<BHH", kind, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(rest) & 0xFFFF) + rest


def _rar4_file(member: _Stored, piece: _Piece, crc: int, method: int, flags: int) -> bytes:
    raw_name = member.name.encode("utf-8")
    if not member.name.isascii():
        flags |= _R4_FILE_UNICODE  # UTF-8 name without the ASCII half: what rarfile and unrar read
    packed, total = piece.end - piece.start, member.size
    high = b""
    if packed > 0xFFFFFFFF or total > 0xFFFFFFFF:
        flags |= _R4_FILE_LARGE
        high = struct.pack("<II", packed >> 32, total >> 32)
    flags |= (_R4_FILE_SPLIT_BEFORE if piece.split_before else 0) | (_R4_FILE_SPLIT_AFTER if piece.split_after else 0)
    if member.salt:
        flags |= _R4_FILE_SALT
    # PACK_SIZE goes in as ADD_SIZE; then UNP_SIZE, HOST_OS (2 = Win32), FILE_CRC, FTIME,
    # UNP_VER (29), METHOD, NAME_SIZE, ATTR, [HIGH sizes], name, [SALT].
    body = struct.pack("<IBIIBBHI", total & 0xFFFFFFFF, 2, crc, _DOS_TIME, 29, method, len(raw_name), 0x20)
    return _rar4_block(_R4_FILE, flags, body + high + raw_name + member.salt, add_size=packed)


def _part_crc(piece: _Piece, member: _Stored) -> int:
    # Every part but the last carries the CRC of its own (packed) bytes; the last the whole file's.
    if piece.split_after:
        return zlib.crc32(member.packed[piece.start : piece.end])
    return member.crc


def _rar4_volume(members: Sequence[_Stored], pieces: list[_Piece], number: int, count: int, opts: _Options) -> bytes:
    main_flags = _R4_MAIN_VOLUME if count > 1 else 0
    if opts.naming == "new":
        main_flags |= _R4_MAIN_NEWNUMBERING
    if number == 0:
        main_flags |= _R4_MAIN_FIRSTVOLUME if count > 1 else 0
    if opts.solid:
        main_flags |= _R4_MAIN_SOLID
    if opts.encrypted == "headers":
        main_flags |= _R4_MAIN_PASSWORD
    out = [RAR4_SIGNATURE, _rar4_block(_R4_MAIN, main_flags, b"\0" * 6)]
    if opts.encrypted == "headers":
        # Salt, then AES blocks: without the password nothing after this can be read.
        size = 8 + 16 * (4 + sum(p.end - p.start for p in pieces) // 16)
        return b"".join(out) + os.urandom(size)
    for piece in pieces:
        member = members[piece.index]
        flags = _R4_FILE_PASSWORD if opts.encrypted == "data" else 0
        if opts.solid and piece.index > 0:
            flags |= _R4_FILE_SOLID
        method = _R4_NORMAL if member.name in opts.compressed else _R4_STORE
        out.append(_rar4_file(member, piece, _part_crc(piece, member), method, flags))
        out.append(member.packed[piece.start : piece.end])
    end_flags = _R4_END_VOLNR | (_R4_END_NEXT_VOLUME if number < count - 1 else 0)
    out.append(_rar4_block(_R4_END, end_flags, struct.pack("<H", number)))
    return b"".join(out)


def _rar5_header(kind: int, flags: int, body: bytes, extra: bytes = b"", data_size: int | None = None) -> bytes:
    """A RAR5 header: CRC32 of everything after it, size vint, type, flags, [extra size], [data size], body."""
    fields = vint(kind)
    if extra:
        flags |= _R5_HAS_EXTRA
    if data_size is not None:
        flags |= _R5_HAS_DATA
    fields += vint(flags)
    if extra:
        fields += vint(len(extra))
    if data_size is not None:
        fields += vint(data_size)
    fields += body + extra
    sized = vint(len(fields)) + fields
    return struct.pack("<I", zlib.crc32(sized)) + sized


def _rar5_file(member: _Stored, piece: _Piece, opts: _Options) -> bytes:
    raw_name = member.name.encode("utf-8")
    method = 3 if member.name in opts.compressed else 0
    compression = (method << 7) | (0x40 if opts.solid and piece.index > 0 else 0) | ((2 if method else 0) << 10)
    body = vint(_R5_FILE_HAS_CRC) + vint(member.size) + vint(0x20) + struct.pack("<I", _part_crc(piece, member))
    body += vint(compression) + vint(0) + vint(len(raw_name)) + raw_name
    # File encryption record (every volume's header of the file): type, version 0 (AES-256),
    # flags (check value present), KDF count, salt, IV, check value.
    extra = vint(len(member.record)) + member.record if member.record else b""
    flags = (_R5_SPLIT_BEFORE if piece.split_before else 0) | (_R5_SPLIT_AFTER if piece.split_after else 0)
    return _rar5_header(_R5_FILE, flags, body, extra, data_size=piece.end - piece.start)


def _rar5_volume(members: Sequence[_Stored], pieces: list[_Piece], number: int, count: int, opts: _Options) -> bytes:
    out = [RAR5_SIGNATURE]
    if opts.encrypted == "headers":
        # Encryption header: version 0, flags 0 (no check value), KDF count 15, 16-byte salt.
        out.append(_rar5_header(_R5_ENCRYPTION, 0, vint(0) + vint(0) + bytes([15]) + os.urandom(16)))
        size = 16 * (6 + sum(p.end - p.start for p in pieces) // 16)
        return b"".join(out) + os.urandom(size)
    archive_flags = (_R5_MAIN_VOLUME if count > 1 else 0) | (_R5_MAIN_SOLID if opts.solid else 0)
    body = b""
    if number > 0:
        archive_flags |= _R5_MAIN_HAS_VOLNR
        body = vint(number)
    out.append(_rar5_header(_R5_MAIN, 0, vint(archive_flags) + body))
    for piece in pieces:
        member = members[piece.index]
        out.append(_rar5_file(member, piece, opts))
        out.append(member.packed[piece.start : piece.end])
    out.append(_rar5_header(_R5_END, 0, vint(_R5_END_NOT_LAST if number < count - 1 else 0)))
    return b"".join(out)


@dataclass(frozen=True)
class _Options:
    naming: str
    compressed: frozenset[str]
    solid: bool
    encrypted: str | None


def write_rar(
    members: Sequence[tuple[str, bytes]],
    *,
    version: int = 5,
    base: str = "release",
    volume_data: int | None = None,
    naming: str | None = None,
    compressed: Collection[str] = (),
    solid: bool = False,
    encrypted: str | None = None,
    password: str | None = None,
) -> list[tuple[str, bytes]]:
    """Write ``members`` (name, bytes) as a RAR set; returns ``[(volume name, bytes)]`` in order."""
    if version not in (4, 5):
        raise ValueError("version is 4 or 5")
    style = naming or ("old" if version == 4 else "new")
    if style not in ("old", "new") or (version == 5 and style == "old"):
        raise ValueError("naming is 'old' (RAR4 only) or 'new'")
    if encrypted not in (None, "headers", "data"):
        raise ValueError("encrypted is None, 'headers' or 'data'")
    opts = _Options(style, frozenset(compressed), solid, encrypted)
    if encrypted == "data" and password is None:
        password = os.urandom(8).hex()
    stored = [_store(name, data, version, password if encrypted == "data" else None) for name, data in members]
    layout = _layout([len(m.packed) for m in stored], volume_data)
    names = volume_names(base, len(layout), version, style)
    write = _rar4_volume if version == 4 else _rar5_volume
    return [(names[n], write(stored, pieces, n, len(layout), opts)) for n, pieces in enumerate(layout)]


def without_volume(volumes: Sequence[tuple[str, bytes]], index: int) -> list[tuple[str, bytes]]:
    """The set with one volume left out (a missing volume)."""
    return [v for i, v in enumerate(volumes) if i != index]


def truncate_volume(volumes: Sequence[tuple[str, bytes]], index: int, keep: int) -> list[tuple[str, bytes]]:
    """The set with one volume cut to its first ``keep`` bytes (an interrupted upload)."""
    return [(name, data[:keep] if i == index else data) for i, (name, data) in enumerate(volumes)]
