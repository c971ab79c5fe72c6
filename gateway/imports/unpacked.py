"""An import of a torrent whose files are an archive set: what the record shows (contract §9).

With ``unpack_archives`` the torrent's folder holds the files stored inside the set, so the
record's files (and so ``content_path`` and the download actions) are those, not the volumes.
The import waits until the set's layout is learned (``gateway/library/unpack.py``); a set that
cannot be streamed is shown as its volumes with the reason in ``error``, and a set with a volume
missing or cut short fails the import with that reason, and so does a set none of whose files
match ``allowed_file_types`` and the size bounds (the set was selected whole before its contents
could be known).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import Config
from gateway.imports.records import ImportFile
from gateway.imports.selection import wanted
from gateway.library.layouts import Layouts
from gateway.models import RemoteFile, Torrent

LAYOUT_POLL = 1.0   # seconds between looks at a layout being learned
_HOLES = ("missing volume", "truncated volume")


@dataclass(frozen=True)
class Outcome:
    waiting: bool = False
    files: tuple[ImportFile, ...] = ()
    note: str = ""       # the record's error: why the set is shown as archives
    failure: str = ""    # the import fails with this reason


def outcome(layouts: Layouts, torrent: Torrent, config: Config) -> Outcome:
    files = tuple(ImportFile(f.path, f.size, f.selected) for f in torrent.files)
    if layouts.waiting(torrent):
        return Outcome(waiting=True, files=files)
    layout = layouts.known(torrent)
    if layout is None:
        return Outcome(files=files)
    if layout.refused:
        if layout.refused.startswith(_HOLES):
            return Outcome(files=files, failure=layout.refused)
        return Outcome(files=files, note=f"{layout.refused}: shown as archives")
    inside = set(layout.volumes)
    base = layout.volumes[0].rsplit("/", 1)[0] + "/" if "/" in layout.volumes[0] else ""
    members = tuple(ImportFile(base + m.name.replace("\\", "/"), m.size, True) for m in layout.members)
    if not any(wanted(RemoteFile(0, m.path, m.size), config) for m in members):
        # The set was selected whole for what it might hold; what it holds is not wanted.
        return Outcome(files=files, failure="no file inside the archive matches allowed_file_types, "
                                            "min_file_size and max_file_size")
    return Outcome(files=members + tuple(f for f in files if f.path not in inside))
