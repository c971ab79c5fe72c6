"""From volumes to members: order the volumes, follow each member across them, check the sums."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.archives import crypto, rar, sevenzip
from gateway.archives.base import ArchiveRefused, Extent, HeaderReader, Member, Volume, VolumeReadError
from gateway.archives.names import volume_number

V = TypeVar("V", bound=Volume)
_UNKNOWN = 1 << 62


@dataclass
class _Scan:
    """The set as read: its kind, its volumes in order (indexes as given) and what each said."""

    kind: str
    order: list[int]
    rar: dict[int, rar.RarVolume] = field(default_factory=dict)
    readers: list[HeaderReader] = field(default_factory=list)


def _name_key(volume: Volume, given: int) -> tuple[int, str, int]:
    number = volume_number(volume.name)
    return (_UNKNOWN if number is None else number, volume.name, given)


def _scan(volumes: Sequence[Volume]) -> _Scan:
    if not volumes:
        raise ArchiveRefused("no volumes")
    # One reader per volume for the whole scan: the window read for the signature serves the parser.
    readers = [HeaderReader(v) for v in volumes]
    by_name = sorted(range(len(volumes)), key=lambda i: _name_key(volumes[i], i))
    first = readers[by_name[0]].pread(0, 8)
    if rar.is_rar(first):
        return _scan_rar(volumes, readers, by_name)
    if not sevenzip.is_7z(first):
        # A split 7z has its signature in the first volume only: names failing, look at every head.
        starts = [i for i in by_name if sevenzip.is_7z(readers[i].pread(0, 8))]
        if len(starts) != 1:
            raise ArchiveRefused("not a RAR or 7z archive set" if not starts else "more than one 7z archive")
        by_name = starts + [i for i in by_name if i != starts[0]]
    return _Scan("7z", by_name, readers=readers)


def _scan_rar(volumes: Sequence[Volume], readers: list[HeaderReader], by_name: list[int]) -> _Scan:
    """Each volume's head (one read), then the tails only the heads cannot decide without."""
    scan = _Scan("rar", [], readers=readers)
    for i in by_name:
        scan.rar[i] = rar.parse_volume(readers[i])
    unnumbered = [i for i in by_name if scan.rar[i].number is None]
    if unnumbered and not _number_by_names(volumes, scan):
        _read_tails(scan, unnumbered)  # RAR4 under names that give no order: the end headers do
    _order(volumes, scan)
    last = scan.order[-1]
    if not _plainly_last(volumes, scan, last):
        number = scan.rar[last].number
        _read_tails(scan, [last])  # does another volume follow? the end header says
        if scan.rar[last].number not in (None, number):  # the names lied: trust the headers only
            _read_tails(scan, by_name)
            _order(volumes, scan)
    if scan.rar[scan.order[-1]].more:
        raise ArchiveRefused(f"missing volume {len(scan.order) + 1}")
    return scan


def _number_by_names(volumes: Sequence[Volume], scan: _Scan) -> bool:
    """RAR4 volumes numbered by their names (.rar, .r00 ...; .partNN.rar), if the names agree
    with each other and with the heads ("first volume"); False, and nothing changed, if not."""
    named = {i: volume_number(volumes[i].name) for i in scan.rar}
    numbers = list(named.values())
    if None in numbers or len(set(numbers)) != len(numbers):
        return False
    if any(v.number is not None and v.number != named[i] for i, v in scan.rar.items()):
        return False
    for i, v in scan.rar.items():
        v.number = named[i]
    return True


def _read_tails(scan: _Scan, indexes: list[int]) -> None:
    for i in indexes:
        scan.rar[i] = rar.parse_volume(scan.readers[i], tail=True)


def _plainly_last(volumes: Sequence[Volume], scan: _Scan, last: int) -> bool:
    """Whether the heads show that no volume follows ``last`` (or that one must: split after).

    Every volume of a set but the last is filled to the set's volume size, so a last volume
    shorter than all the others ends the set; one as long as the others may have been followed
    by one that is missing, and only its end header can say.
    """
    volume = scan.rar[last]
    if volume.more is not None or not volume.is_volume or volume.split_after:
        return True
    others = [volumes[i].size for i in scan.order if i != last]
    return bool(others) and volumes[last].size < min(others)


def _order(volumes: Sequence[Volume], scan: _Scan) -> None:
    scan.order = sorted(scan.rar, key=lambda i: (_num(scan.rar[i]), *_name_key(volumes[i], i)))
    _check_numbers(scan)


def _num(volume: rar.RarVolume) -> int:
    return _UNKNOWN if volume.number is None else volume.number


def _check_numbers(scan: _Scan) -> None:
    """Numbers from the headers (or names) must run 0, 1, 2 ..."""
    numbers = [scan.rar[i].number for i in scan.order]
    if all(n is not None for n in numbers):
        for expected, number in enumerate(numbers):
            if number != expected:
                assert number is not None
                gap = expected if number > expected else number
                raise ArchiveRefused(f"{'missing' if number > expected else 'duplicate'} volume {gap + 1}")


def order_volumes(volumes: Sequence[V]) -> list[V]:
    """The volumes in set order: by the number in their headers, then by name, then as given."""
    try:
        return [volumes[i] for i in _scan(volumes).order]
    except VolumeReadError as exc:
        raise exc.cause from None


def map_archive(volumes: Sequence[Volume], password: str | None = None) -> list[Member]:
    """The files stored in an archive set, as extents of its volumes; ArchiveRefused if it cannot stream.

    Stored RAR files with encrypted data map with ``password`` (their Members carry the cipher);
    without one they refuse ("encrypted RAR"), with a wrong one "wrong archive password".
    A volume's own read error (network) is raised as it was, not as a refusal.
    """
    try:
        return _map(volumes, password)
    except VolumeReadError as exc:
        raise exc.cause from None


def _map(volumes: Sequence[Volume], password: str | None) -> list[Member]:
    scan = _scan(volumes)
    is_7z = scan.kind == "7z"
    members = sevenzip.map_7z(volumes, scan.readers, scan.order) if is_7z else _rar_members(volumes, scan, password)
    if not members:
        raise ArchiveRefused("no files in the archive")
    for member in members:
        _check(member, volumes)
        if member.cipher is not None:
            _check_password(member, scan.readers)
    return members


def _cipher(crypt: rar.Encryption, password: str | None) -> crypto.Cipher:
    """The member's key from the password; a RAR5 check value that disagrees refuses it."""
    if not password:
        raise ArchiveRefused("encrypted RAR")
    if crypt.version == 4:
        key, iv = crypto.rar3_key_iv(password, crypt.salt)
        return crypto.Cipher(key, iv)
    if crypt.lg2count > crypto.MAX_LG2COUNT:
        raise ArchiveRefused(f"damaged RAR headers: a key derivation of 2^{crypt.lg2count} rounds")
    if crypto.rar5_check_intact(crypt.check) and crypto.rar5_check(password, crypt.salt, crypt.lg2count) != \
            crypt.check[:8]:
        raise ArchiveRefused("wrong archive password")
    return crypto.Cipher(crypto.rar5_key(password, crypt.salt, crypt.lg2count), crypt.iv)


def _check_password(member: Member, readers: list[HeaderReader]) -> None:
    """Without a check value (RAR 3.x) only the plaintext can tell a wrong password: the first
    block of a media file must look like its format (one small read, usually in the head window)."""
    assert member.cipher is not None

    def read(offset: int, length: int) -> bytes:
        out, base = b"", 0
        for e in member.extents:
            lo, hi = max(offset, base), min(offset + length, base + e.length)
            if lo < hi:
                out += readers[e.volume].pread(e.offset + lo - base, hi - lo)
            base += e.length
        return out

    head = crypto.decrypt_range(member.cipher, read, 0, crypto.BLOCK, member.size)
    if not crypto.plausible(member.name, head):
        raise ArchiveRefused("wrong archive password")


def _rar_members(volumes: Sequence[Volume], scan: _Scan, password: str | None) -> list[Member]:
    members: list[Member] = []
    current: rar.FileHeader | None = None
    extents: list[Extent] = []
    for place, i in enumerate(scan.order):
        for piece in scan.rar[i].files:
            if piece.split_before != (current is not None) or (current and piece.name != current.name):
                # A piece that continues nothing, or a member that stops short: a volume is missing.
                raise ArchiveRefused(f"missing volume {place + 1}")
            current = current or piece
            if piece.packed:
                extents.append(Extent(i, piece.offset, piece.packed))
            if not piece.split_after:
                cipher = _cipher(current.crypt, password) if current.crypt else None
                members.append(Member(current.name, current.size, tuple(extents), cipher))
                current, extents = None, []
    if current is not None:
        raise ArchiveRefused(f"missing volume {len(scan.order) + 1}")
    return members


def _check(member: Member, volumes: Sequence[Volume]) -> None:
    for extent in member.extents:
        if extent.offset + extent.length > volumes[extent.volume].size:
            raise ArchiveRefused(f"truncated volume {volumes[extent.volume].name}")
    total = sum(e.length for e in member.extents)
    packed = member.size if member.cipher is None else crypto.padded(member.size)
    if total != packed:
        raise ArchiveRefused(f"{member.name}: its pieces add up to {total} bytes, not {packed}")
