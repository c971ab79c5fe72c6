"""Stored archives as extents: the files inside RAR4/RAR5 sets and 7z Copy archives, found by
reading only the volumes' headers, and described as byte ranges of the volumes.

Streaming works only where a member's bytes sit in the volumes as they are (RAR method "store",
7z "Copy"): ``map_archive`` returns each member as a list of (volume, offset, length) extents,
and refuses (``ArchiveRefused`` with a reason for the user) compressed, solid or encrypted
archives, sets with a volume missing or cut short, and damaged headers.

Parsers: rarfile reads the RAR headers (one volume at a time through our own file objects,
seeking over the data) and py7zr the 7z headers (at the end of the archive). Both read a
``HeaderReader``: a window of a few KiB per read, a budget per volume. A RAR set costs ONE
small ranged read per volume in the normal case, its head window (main header, file headers
with the split flags and the extents); 7z reads its first head and the tail of the set.
A Volume's own read errors (network) come out as they are, not as a refusal: the caller decides
whether to try again.

Volumes are ordered by the number in their heads (RAR5 main header; RAR4 says only "first
volume"), for RAR4 by their names (``.rar, .r00, .r01``; ``.partNN.rar``) when the names give
each volume a distinct number that agrees with the heads, then by name, then as given. A gap in
those numbers is a missing volume; a piece "split after" with no volume after it is a missing
last volume; a last volume shorter than every other one ends the set.
The tail of a RAR volume (its end-of-archive header: RAR4's volume number, "more volumes
follow") is read only when the heads cannot decide: RAR4 volumes whose names give no order
(obfuscated), a last volume as long as the others (another may have followed it), or a number
at the tail that contradicts the names (then every tail is read and the headers alone order).
A member ending mid-volume with room after it costs a read at the header that may follow.
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
