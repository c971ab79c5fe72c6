"""Stored archives as extents: the files inside RAR4/RAR5 sets and 7z Copy archives, found by
reading only the volumes' headers, and described as byte ranges of the volumes.

Streaming works only where a member's bytes sit in the volumes as they are (RAR method "store",
7z "Copy"): ``map_archive`` returns each member as a list of (volume, offset, length) extents,
and refuses (``ArchiveRefused`` with a reason for the user) compressed, solid or encrypted
archives, sets with a volume missing or cut short, and damaged headers.

Parsers: rarfile reads the RAR headers (one volume at a time through our own file objects,
seeking over the data) and py7zr the 7z headers (at the end of the archive). Both read a
``HeaderReader``: a window of a few KiB per read, a budget per volume, so a set costs a couple
of small ranged reads per volume whatever the size of what it holds. A Volume's own read errors
(network) come out as they are, not as a refusal: the caller decides whether to try again.

Volumes are ordered by the number in their headers (RAR5 main header, RAR4 end-of-archive
header), then by name (``.partNN.rar``; ``.rar, .r00, .r01``; ``.7z.001``), then as given.
"Missing volume N" counts from 1, like ``.partN.rar``.
"""

from gateway.archives.base import ArchiveRefused, Extent, Member, Volume
from gateway.archives.mapping import map_archive, order_volumes
from gateway.archives.names import archive_volumes, is_archive_set, is_volume_name

__all__ = [
    "ArchiveRefused",
    "Extent",
    "Member",
    "Volume",
    "archive_volumes",
    "is_archive_set",
    "is_volume_name",
    "map_archive",
    "order_volumes",
]
