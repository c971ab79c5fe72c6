"""Download actions: what "ready at content_path" means (contract §6).

- ``symlink``: one link per selected file under ``content_path`` pointing at
  ``{mount_path}/__all__/<folder>/<file>``; done only when every target
  exists and opens (the mount may lag behind the library).
- ``strm``: one ``<file>.strm`` per media file holding the streaming URL.
- ``download``: the bytes copied into ``content_path``, resumable.
- ``none``: nothing written, done once the provider has the files; ``content_path``
  points into the mount when there is one, else at ``save_path/<name>``.

``content_path`` follows qBittorrent: the file itself for a single-file
torrent, ``save_path/<name>`` for a multi-file one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.clock import Clock
from gateway.imports.records import ImportFile, ImportRecord
from gateway.library.naming import sanitize, split_path

MEDIA_TYPES = ("mkv", "mp4", "avi", "mov", "m4v", "wmv", "webm", "ts", "m2ts", "mpg", "mpeg", "flv",
               "mp3", "flac", "m4a", "aac", "ogg", "opus", "wav")
COPY_PIECE = 4 << 20
LINK_POLL = 1.0


class ActionError(Exception):
    """The action cannot finish; the message is the record's error reason."""


class Interrupted(Exception):
    """The gateway is stopping: leave the record as it is, to resume at the next start."""


@dataclass
class ActionContext:
    mount_path: str
    clock: Clock
    stop: threading.Event
    symlink_timeout: float
    stream_url: Callable[[str, str], str]
    progress: Callable[[float], Any]
    opener: Callable[[str, str], Any]


def selected(record: ImportRecord) -> list[ImportFile]:
    return [f for f in record.files if f.selected]


def _rel(file: ImportFile) -> str:
    return "/".join(split_path(file.path))


def content_path(record: ImportRecord, base: str) -> str:
    """qBittorrent's rule: a single-file torrent is its file; any other torrent is its
    root folder, however many of its files were selected. An NZB job is always its
    folder: SABnzbd's ``storage`` is the job folder the *arr empties and deletes."""
    if record.kind != "nzb" and len(record.files) == 1 and "/" not in _rel(record.files[0]):
        return os.path.join(base, _rel(record.files[0]))
    return os.path.join(base, sanitize(record.folder or record.name))


def run(record: ImportRecord, ctx: ActionContext) -> str:
    if not selected(record):
        raise ActionError("no files were selected at the provider")
    return {"symlink": _symlink, "strm": _strm, "download": _download, "none": _none}[record.action](record, ctx)


def _targets(record: ImportRecord, ctx: ActionContext) -> list[tuple[ImportFile, str]]:
    if not ctx.mount_path:
        raise ActionError(f"the {record.action} action needs mount.mount_path (the FUSE or rclone mount)")
    root = os.path.join(ctx.mount_path, "__all__", record.folder)
    return [(f, os.path.join(root, *split_path(f.path))) for f in selected(record)]


def _output(record: ImportRecord, file: ImportFile, single: bool) -> str:
    if single:
        return content_path(record, record.save_path)
    return os.path.join(content_path(record, record.save_path), *split_path(file.path))


def _is_single(record: ImportRecord) -> bool:
    return content_path(record, record.save_path) != os.path.join(
        record.save_path, sanitize(record.folder or record.name))


def _symlink(record: ImportRecord, ctx: ActionContext) -> str:
    targets = _targets(record, ctx)
    _wait_for_mount([t for _, t in targets], ctx)
    single = _is_single(record)
    for file, target in targets:
        link = _output(record, file, single)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        temp = f"{link}.decypharr-tmp"
        if os.path.lexists(temp):
            os.unlink(temp)
        os.symlink(target, temp)
        os.replace(temp, link)   # atomic: the *arr never sees a half-made link
    return content_path(record, record.save_path)


def _wait_for_mount(targets: list[str], ctx: ActionContext) -> None:
    """Until every target exists and opens, or the timeout ends it in an error."""
    deadline = ctx.clock.monotonic() + ctx.symlink_timeout
    pending = list(targets)
    while pending:
        pending = [t for t in pending if not _opens(t)]
        if not pending:
            return
        if ctx.stop.is_set():
            raise Interrupted()
        if ctx.clock.monotonic() >= deadline:
            raise ActionError(f"the mount never showed {pending[0]} (is the mount running at mount_path?)")
        ctx.clock.wait(ctx.stop, LINK_POLL)


def _opens(path: str) -> bool:
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False


def _strm(record: ImportRecord, ctx: ActionContext) -> str:
    single = _is_single(record)
    media = [f for f in selected(record) if f.path.rsplit(".", 1)[-1].lower() in MEDIA_TYPES]
    if not media:
        raise ActionError("no media file to write a .strm for")
    for file in media:
        out = _output(record, file, single and len(media) == 1) + ".strm"
        os.makedirs(os.path.dirname(out), exist_ok=True)
        _write_atomic(out, ctx.stream_url(record.folder, _rel(file)).encode() + b"\n")
    path = content_path(record, record.save_path)
    return path + ".strm" if single and len(media) == 1 else path


def _write_atomic(path: str, data: bytes) -> None:
    temp = f"{path}.decypharr-tmp"
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _download(record: ImportRecord, ctx: ActionContext) -> str:
    single = _is_single(record)
    files = selected(record)
    total = sum(f.size for f in files) or 1
    done = 0
    for file in files:
        out = _output(record, file, single)
        done = _copy(record, file, out, ctx, done, total)
    return content_path(record, record.save_path)


def _copy(record: ImportRecord, file: ImportFile, out: str, ctx: ActionContext, done: int, total: int) -> int:
    """Copy one file, resuming a partial ``.part`` left by an earlier run."""
    if os.path.exists(out) and os.path.getsize(out) == file.size:
        return done + file.size
    os.makedirs(os.path.dirname(out), exist_ok=True)
    part = out + ".part"
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    reader = ctx.opener(record.folder, _rel(file))
    try:
        reader.seek(min(offset, file.size))
        with open(part, "ab") as handle:
            while offset < file.size:
                if ctx.stop.is_set():
                    raise Interrupted()
                data = reader.read(min(COPY_PIECE, file.size - offset))
                if not data:
                    raise ActionError(f"{file.path}: the stream ended early")
                handle.write(data)
                offset += len(data)
                ctx.progress((done + offset) / total)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise ActionError(f"{file.path}: copy failed: {exc.strerror or exc}") from None
    finally:
        reader.close()
    os.replace(part, out)
    return done + file.size


def _none(record: ImportRecord, ctx: ActionContext) -> str:
    """Nothing to write, and nothing to wait for: the provider has the files (contract §6).
    The path names the mount's copy when there is a mount, else ``{save_path}/{name}``."""
    if not ctx.mount_path:
        return content_path(record, record.save_path)
    targets = _targets(record, ctx)
    if _is_single(record):
        return targets[0][1]
    return os.path.join(ctx.mount_path, "__all__", record.folder)
