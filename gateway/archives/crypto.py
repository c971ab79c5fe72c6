"""Encrypted stored RAR members: the keys from the NZB's password, and AES-CBC with random access.

A RAR member whose data is encrypted (RAR5: AES-256, RAR 3.x/4: AES-128, both CBC) is still
streamable when it is stored: its packed bytes are the plaintext padded to 16 bytes and
encrypted as ONE CBC stream (split across volumes like any packed data; the IV of the first
piece's header starts it). CBC decrypts at any offset: plaintext block i is AES_dec(C_i) XOR
C_{i-1} (the IV for block 0), so a read at offset o fetches the ciphertext from the block before
o's block and nothing earlier. The packed size is the padded size; the member's size (its
unpacked size) is the real one, so reads are cut there.

Keys (from the RAR 5.0 format notes and RAR 3.x's unrar sources, as rarfile also reads them):

- RAR5: PBKDF2-HMAC-SHA256(password as UTF-8, salt, 2^lg2count) is the AES-256 key; the same
  chain at 2^lg2count + 32 iterations, XOR-folded to 8 bytes, is the password check value the
  file's encryption record may carry (with 4 bytes of SHA-256 of it, to tell a damaged record).
- RAR 3.x: SHA-1 over 2^18 rounds of (password as UTF-16LE + 8-byte salt + a 3-byte counter);
  every 2^14th round gives one IV byte (the last byte of the running digest), and the final
  digest's first 16 bytes, as four big-endian words stored little-endian, are the key. RAR 3.x's
  SHA-1 wrote its message schedule back into the caller's buffer for every whole block it read
  in place: with a password over 28 characters the seed changes from round to round, and the
  derivation does the same.

A member's ``Cipher`` is stored with the job's layout (the key, not the password).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from Cryptodome.Cipher import AES

BLOCK = 16
MAX_PASSWORD = 127   # UTF-16 characters RAR keeps of a password
MAX_LG2COUNT = 24    # a record asking more KDF rounds than this is damaged (or hostile)
_RAR3_ROUNDS = 0x40000


@dataclass(frozen=True)
class Cipher:
    """AES-CBC over a member's packed bytes: a 32-byte key is RAR5's AES-256, 16 RAR 3.x's AES-128."""

    key: bytes
    iv: bytes

    def to_json(self) -> list[str]:
        return [self.key.hex(), self.iv.hex()]

    @classmethod
    def from_json(cls, value: list[str]) -> Cipher:
        return cls(bytes.fromhex(value[0]), bytes.fromhex(value[1]))


class Stream(Protocol):
    def read(self, size: int) -> bytes: ...

    def close(self) -> None: ...


def padded(size: int) -> int:
    """The packed size of ``size`` encrypted bytes: whole AES blocks."""
    return -(-size // BLOCK) * BLOCK


def _password(password: str) -> str:
    return password.encode("utf-16le", "surrogatepass")[: 2 * MAX_PASSWORD].decode("utf-16le", "ignore")


@lru_cache(maxsize=32)
def rar5_key(password: str, salt: bytes, lg2count: int) -> bytes:
    """The AES-256 key of a RAR5 encryption record."""
    if not 0 <= lg2count <= MAX_LG2COUNT:
        raise ValueError(f"KDF count 2^{lg2count} out of range")
    return hashlib.pbkdf2_hmac("sha256", _password(password).encode("utf-8"), salt, 1 << lg2count)


@lru_cache(maxsize=32)
def rar5_check(password: str, salt: bytes, lg2count: int) -> bytes:
    """The 8-byte password check value a RAR5 record carries for ``password``."""
    if not 0 <= lg2count <= MAX_LG2COUNT:
        raise ValueError(f"KDF count 2^{lg2count} out of range")
    chain = hashlib.pbkdf2_hmac("sha256", _password(password).encode("utf-8"), salt, (1 << lg2count) + 32)
    folded = bytearray(8)
    for i, byte in enumerate(chain):
        folded[i % 8] ^= byte
    return bytes(folded)


def rar5_check_intact(check: bytes) -> bool:
    """Whether a 12-byte check record is whole (its last 4 bytes are SHA-256 of its first 8)."""
    return len(check) == 12 and hashlib.sha256(check[:8]).digest()[:4] == check[8:]


@lru_cache(maxsize=32)
def rar3_key_iv(password: str, salt: bytes) -> tuple[bytes, bytes]:
    """The AES-128 key and IV of a RAR 3.x/4 file with ``salt``."""
    seed = bytearray(_password(password).encode("utf-16le") + salt)
    digest = hashlib.sha1()
    length = 0   # bytes hashed so far: where the next update starts inside a 64-byte block
    iv = bytearray()
    step = _RAR3_ROUNDS // BLOCK
    for i in range(_RAR3_ROUNDS):
        digest.update(seed)
        _rar3_overwrite(seed, length)
        length += len(seed)
        digest.update(struct.pack("<I", i)[:3])
        length += 3
        if i % step == 0:
            iv.append(digest.digest()[19])
    words = struct.unpack(">4I", digest.digest()[:16])
    return struct.pack("<4I", *words), bytes(iv)


def _rar3_overwrite(data: bytearray, length: int) -> None:
    """RAR 3.x's SHA-1 quirk: each whole 64-byte block it hashed straight from ``data`` (all but
    the first, which went through its own buffer) gets the block's expanded message schedule."""
    position = 64 - length % 64
    if len(data) <= 64:
        return
    while position + 64 <= len(data):
        words = list(struct.unpack_from(">16I", data, position))
        for t in range(16, 80):
            x = words[(t - 3) & 15] ^ words[(t - 8) & 15] ^ words[(t - 14) & 15] ^ words[(t - 16) & 15]
            words[t & 15] = ((x << 1) | (x >> 31)) & 0xFFFFFFFF
        struct.pack_into("<16I", data, position, *words)
        position += 64


# How the media files a release may hold begin: a wrong password decrypts to noise, and RAR 3.x
# (and RAR5 without a check value) has nothing else to tell it by before the whole file is read.
_MAGIC: dict[str, Callable[[bytes], bool]] = {
    "mkv": lambda h: h.startswith(b"\x1a\x45\xdf\xa3"),
    "webm": lambda h: h.startswith(b"\x1a\x45\xdf\xa3"),
    "avi": lambda h: h.startswith(b"RIFF"),
    "mp4": lambda h: h[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"),
    "m4v": lambda h: h[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"),
    "mov": lambda h: h[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"),
    "ts": lambda h: h[:1] == b"\x47",
    "m2ts": lambda h: h[4:5] == b"\x47",
    "mpg": lambda h: h.startswith(b"\x00\x00\x01\xba"),
    "wmv": lambda h: h.startswith(b"\x30\x26\xb2\x75"),
}


def plausible(name: str, head: bytes) -> bool:
    """Whether decrypted first bytes of ``name`` look like its format (True for formats not known)."""
    check = _MAGIC.get(name.rsplit(".", 1)[-1].lower()) if "." in name else None
    return check is None or check(head)


ReadCiphertext = Callable[[int, int], bytes]   # (offset, length) in the member's packed bytes


def decrypt_range(cipher: Cipher, read: ReadCiphertext, offset: int, length: int, size: int) -> bytes:
    """Plaintext bytes ``[offset, offset + length)`` of a member of ``size`` bytes (fewer at its end)."""
    end = min(size, offset + length)
    if offset >= end or offset < 0:
        return b""
    first = offset // BLOCK * BLOCK
    before = max(0, first - BLOCK)
    data = read(before, padded(end) - before)
    if len(data) != padded(end) - before:
        raise OSError(5, "the encrypted member's packed bytes end early")
    iv, body = (data[:BLOCK], data[BLOCK:]) if first else (cipher.iv, data)
    plain = AES.new(cipher.key, AES.MODE_CBC, iv).decrypt(body)
    return plain[offset - first : end - first]


class DecryptingStream:
    """Sequential plaintext ``[start, last]`` of an encrypted member, over a ciphertext stream.

    ``open_ciphertext(first, last)`` opens the member's packed bytes ``first`` .. ``last``
    (inclusive); the stream opens it once, at the block before ``start``'s block.
    """

    def __init__(self, cipher: Cipher, open_ciphertext: Callable[[int, int], Stream], start: int, last: int,
                 size: int) -> None:
        self.position = start
        self._last = min(last, size - 1)
        self._size = size
        self._stream: Stream | None = None
        self._pending = b""   # ciphertext read but not yet a whole block
        self._plain = b""     # plaintext decrypted but not yet read
        if start > self._last:
            return
        first = start // BLOCK * BLOCK
        before = max(0, first - BLOCK)
        self._stream = open_ciphertext(before, padded(self._last + 1) - 1)
        iv = self._exactly(BLOCK) if first else cipher.iv
        self._aes = AES.new(cipher.key, AES.MODE_CBC, iv)
        self._skip = start - first

    def _exactly(self, size: int) -> bytes:
        assert self._stream is not None
        out = b""
        while len(out) < size:
            data = self._stream.read(size - len(out))
            if not data:
                raise OSError(5, "the encrypted member's packed bytes end early")
            out += data
        return out

    def read(self, size: int) -> bytes:
        size = min(size, self._last + 1 - self.position)
        if size <= 0 or self._stream is None:
            return b""
        if not self._plain:
            self._decrypt_more(size)
        out, self._plain = self._plain[:size], self._plain[size:]
        self.position += len(out)
        return out

    def _decrypt_more(self, size: int) -> None:
        """At least one more block of plaintext (what ``size`` asks, rounded to blocks) into the buffer."""
        assert self._stream is not None
        while True:
            want = padded(size + self._skip) - len(self._pending)
            data = self._stream.read(max(BLOCK, want))
            if not data:
                raise OSError(5, "the encrypted member's packed bytes end early")
            data = self._pending + data
            whole = len(data) // BLOCK * BLOCK
            self._pending = data[whole:]
            if whole:
                break
        plain = self._aes.decrypt(data[:whole])[self._skip :]
        self._skip = 0
        self._plain = plain[: self._last + 1 - self.position]

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
