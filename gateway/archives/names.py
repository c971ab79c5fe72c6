"""Archive volumes told apart by their names: which names form a set, and their order by name."""

from __future__ import annotations

import re
from collections.abc import Sequence

_PART_RAR = re.compile(r"\.part(\d{1,4})\.rar$", re.IGNORECASE)
_RAR = re.compile(r"\.rar$", re.IGNORECASE)
_OLD_RAR = re.compile(r"\.([rs])(\d{2})$", re.IGNORECASE)  # .r00 ... .r99, then .s00 ... .s99
_SEVEN_ZIP = re.compile(r"\.7z$", re.IGNORECASE)
_SEVEN_ZIP_SPLIT = re.compile(r"\.7z\.(\d{3})$", re.IGNORECASE)
# Files that travel with a scene set and say nothing about what is inside it.
SIDECARS = (".sfv", ".nfo", ".par2", ".srr", ".md5", ".sha1", ".txt", ".diz", ".url")


def volume_number(name: str) -> int | None:
    """The 0-based place a name gives a volume in its set, or None if the name says nothing."""
    base = name.rsplit("/", 1)[-1]
    if match := _PART_RAR.search(base):
        return int(match.group(1)) - 1
    if _RAR.search(base):
        return 0  # the first volume in the old naming (.rar, .r00, .r01 ...)
    if match := _OLD_RAR.search(base):
        return 1 + (ord(match.group(1).lower()) - ord("r")) * 100 + int(match.group(2))
    if match := _SEVEN_ZIP_SPLIT.search(base):
        return int(match.group(1)) - 1
    if _SEVEN_ZIP.search(base):
        return 0
    return None


def is_volume_name(name: str) -> bool:
    """Whether a name is a RAR or 7z volume's (.rar, .rNN, .partNN.rar, .7z, .7z.NNN)."""
    return volume_number(name) is not None


def is_archive_set(names: Sequence[str]) -> bool:
    """Whether these names are one archive set: volumes only, beside scene sidecars (.sfv, .nfo ...).

    Names alone cannot see an obfuscated set: a caller with such names reads the heads instead
    (map_archive refuses what is not an archive).
    """
    # The all() first: most file lists fail at their first name (a .mkv), before any() looks at every name.
    return all(is_volume_name(n) or n.lower().endswith(SIDECARS) for n in names) and \
        any(is_volume_name(n) for n in names)


def archive_volumes(names: Sequence[str]) -> list[str]:
    """The names among ``names`` that are archive volumes, in the order given."""
    return [n for n in names if is_volume_name(n)]
