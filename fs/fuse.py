"""FUSE frontend: a thin adapter over the VFS, and the plumbing of the mount.

``GatewayFuse`` maps each callback to one VFS call (``getattr`` → ``stat``,
``readdir`` → ``listdir``, ``open``/``read``/``release`` → a handle table,
``unlink``/``rmdir`` → ``remove``, which deletes a torrent folder as WebDAV
DELETE does); every write is ``EROFS``. Exceptions become errno values in one
place, ``ERRNO_TABLE``. Reads go through the VFS handle, so the chunk cache,
read-ahead and link healing (fs/cached_reader.py, gateway/library/streaming.py)
are the same as for WebDAV; a read that fails after their bounded retries is
``EIO`` for that read only, and the mount keeps serving (libfuse runs each
request on its own thread).

``FuseMount`` runs libfuse's multithreaded loop in the foreground of its own
thread. ``start`` first clears a stale mount left by a crashed run (the mount
point answers ``ENOTCONN``) and refuses a path a live process serves;
``stop`` unmounts with ``fusermount3 -u`` (lazily if busy) and joins the loop.
The binding is mfusepy, or fusepy where mfusepy is missing; both load libfuse
when imported, so a machine without it still runs every other frontend.
"""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import os
import re
import shutil
import stat
import subprocess
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from fs.reader import FileHandle
from fs.vfs import VFS, Entry
from gateway import errors
from gateway.clock import Clock
from gateway.config import MountConfig

log = logging.getLogger(__name__)

_fuse: Any
try:
    import mfusepy as _mfusepy
    _fuse = _mfusepy
except (ImportError, OSError, AttributeError):   # OSError: no libfuse; AttributeError: one it cannot use
    try:
        import fuse as _fusepy  # fusepy
        _fuse = _fusepy
    except (ImportError, OSError, AttributeError):
        _fuse = None

if _fuse is not None:
    Operations: Any = _fuse.Operations
    FuseOSError: Any = _fuse.FuseOSError
else:
    Operations = object

    class FuseOSError(OSError):   # type: ignore[no-redef]  # stands in for the library's when none loads
        def __init__(self, code: int) -> None:
            super().__init__(code, os.strerror(code))

BLOCK_SIZE = 1 << 20          # st_blksize: invites large reads (cp, cat, media servers)
STATFS_FRAGMENT = 4096
NAME_MAX = 255
KERNEL_READ_AHEAD_KB = 1024   # the mount's bdi read-ahead: 1 MiB FUSE reads instead of 128 KiB
MAX_THREADS = 64              # libfuse worker threads at most, ...
MAX_IDLE_THREADS = 16         # ... and kept idle (libfuse 3.14 complains about its own "unbounded" default)
MOUNT_STEP = 0.1              # seconds per wait for libfuse's init, ...
MOUNT_STEPS = 100             # ... this many times before giving up
JOIN_TIMEOUT = 10.0
UNMOUNT_TIMEOUT = 10.0

# The one exception → errno table of this frontend (first match wins: subclasses first).
ERRNO_TABLE: tuple[tuple[type[BaseException], int], ...] = (
    (FileNotFoundError, errno.ENOENT),
    (NotADirectoryError, errno.ENOTDIR),
    (IsADirectoryError, errno.EISDIR),
    (PermissionError, errno.EACCES),
    (errors.FileGone, errno.EIO),          # the provider lost the file: the torrent is marked for repair
    (errors.ProviderError, errno.EIO),     # after the streaming layer's retries
    (errors.GatewayError, errno.EIO),
    (ValueError, errno.EBADF),             # a read on a handle closed meanwhile
)

F = TypeVar("F", bound=Callable[..., Any])


def errno_of(exc: BaseException) -> int:
    for kind, code in ERRNO_TABLE:
        if isinstance(exc, kind):
            return code
    if isinstance(exc, OSError) and exc.errno:
        return int(exc.errno)
    return errno.EIO


def _mapped(func: F) -> F:
    """Turn any exception of a callback into its errno (logged once, here)."""
    @functools.wraps(func)
    def wrapper(self: GatewayFuse, path: str, *args: Any) -> Any:
        try:
            return func(self, path, *args)
        except FuseOSError:
            raise
        except Exception as exc:
            code = errno_of(exc)
            if code == errno.EIO:
                log.warning("%s: fuse %s failed: %s", path, func.__name__, exc,
                            exc_info=log.isEnabledFor(logging.DEBUG))
            else:
                log.debug("%s: fuse %s: %s", path, func.__name__, exc)
            raise FuseOSError(code) from None
    return wrapper  # type: ignore[return-value]  # called as func is called (wraps copies its metadata)


class GatewayFuse(Operations):
    use_ns = True   # times in nanoseconds (and mfusepy warns otherwise)

    def __init__(self, vfs: VFS, *, uid: int, gid: int, umask: int) -> None:
        self._vfs = vfs
        self._uid = uid
        self._gid = gid
        self._dir_mode = stat.S_IFDIR | (0o777 & ~umask)
        self._file_mode = stat.S_IFREG | (0o666 & ~umask)
        # Reads look handles up without the lock: a dict lookup is atomic in CPython, and open and
        # release (which change the dict) hold it. A handle serialises its own reads (FileHandle.pread).
        self._handles: dict[int, FileHandle] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.ready = threading.Event()

    def init(self, path: str) -> None:
        self.ready.set()

    def destroy(self, path: str) -> None:
        self.close_all()

    @_mapped
    def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
        return self._attrs(self._vfs.stat(path))

    def _attrs(self, entry: Entry) -> dict[str, int]:
        ns = int(entry.mtime * 1_000_000_000)
        size = 0 if entry.is_dir else entry.size
        return {"st_mode": self._dir_mode if entry.is_dir else self._file_mode,
                "st_nlink": 2 if entry.is_dir else 1, "st_size": size,
                "st_uid": self._uid, "st_gid": self._gid,
                "st_atime": ns, "st_mtime": ns, "st_ctime": ns,
                "st_blksize": BLOCK_SIZE, "st_blocks": -(-size // 512)}

    @_mapped
    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *(entry.name for entry in self._vfs.listdir(path))]

    @_mapped
    def open(self, path: str, flags: int) -> int:
        if flags & os.O_ACCMODE != os.O_RDONLY or flags & os.O_TRUNC:
            raise FuseOSError(errno.EROFS)
        handle = self._vfs.open(path, "fuse")
        with self._lock:
            fh = next(self._ids)
            self._handles[fh] = handle
        return fh

    @_mapped
    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        handle = self._handles.get(fh)
        if handle is None:
            raise FuseOSError(errno.EBADF)
        return handle.pread(offset, size)   # libfuse may deliver overlapping reads: pread serialises them

    @_mapped
    def release(self, path: str, fh: int) -> int:
        with self._lock:
            handle = self._handles.pop(fh, None)
        if handle is not None:
            handle.close()
        return 0

    @_mapped
    def statfs(self, path: str) -> dict[str, int]:
        total, files = self._vfs.usage()
        return {"f_bsize": BLOCK_SIZE, "f_frsize": STATFS_FRAGMENT,
                "f_blocks": -(-total // STATFS_FRAGMENT), "f_bfree": 0, "f_bavail": 0,
                "f_files": files, "f_ffree": 0, "f_favail": 0, "f_namemax": NAME_MAX}

    @_mapped
    def unlink(self, path: str) -> int:
        self._vfs.remove(path)   # files are refused (PermissionError); torrent folders are deleted
        return 0

    @_mapped
    def rmdir(self, path: str) -> int:
        self._vfs.remove(path)
        return 0

    def _read_only(self, path: str, *args: Any) -> int:
        raise FuseOSError(errno.EROFS)

    create = write = truncate = mkdir = mknod = rename = symlink = link = _read_only
    chmod = chown = utimens = setxattr = removexattr = fallocate = _read_only

    def close_all(self) -> None:
        with self._lock:
            handles = list(self._handles.values())
            self._handles.clear()
        for handle in handles:
            handle.close()


# ------------------------------------------------------------------ plumbing

def _unescape(field: bytes) -> str:
    """A /proc/mounts path: octal escapes for space, tab, newline, backslash."""
    return os.fsdecode(re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field))


def fuse_mounts() -> set[str]:
    """Mount points of FUSE filesystems in this mount namespace."""
    try:
        with open("/proc/self/mounts", "rb") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return set()
    points = set()
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and fields[2].startswith(b"fuse"):
            points.add(_unescape(fields[1]))
    return points


def _fusermount(path: str, *flags: str) -> bool:
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    command = [tool, *flags, path] if tool else ["umount", *(["-l"] if "-z" in "".join(flags) else []), path]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=UNMOUNT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("%s: %s failed: %s", path, command[0], exc)
        return False
    if result.returncode != 0:
        log.info("%s: %s: %s", path, " ".join(command[:-1]), result.stderr.strip())
    return result.returncode == 0


def clear_stale_mount(path: str) -> None:
    """Unmount what a crashed run left at ``path``; refuse a mount a live process serves."""
    try:
        os.statvfs(path)   # never answered from a cache: a dead FUSE daemon shows as ENOTCONN
    except OSError as exc:
        if exc.errno != errno.ENOTCONN:
            return
        log.warning("%s: stale FUSE mount from an earlier run, unmounting it", path)
        if not _fusermount(path, "-uz"):
            raise errors.GatewayError(f"mount: {path} holds a stale FUSE mount that cannot be unmounted") from None
        return
    if path in fuse_mounts():
        raise errors.GatewayError(f"mount: {path} is already a FUSE mount served by a running process")


class FuseMount:
    def __init__(self, vfs: VFS, config: MountConfig, clock: Clock) -> None:
        self.path = os.path.abspath(config.mount_path)
        self._config = config
        self._clock = clock
        uid = config.uid if config.uid >= 0 else os.getuid()
        gid = config.gid if config.gid >= 0 else os.getgid()
        self._ops = GatewayFuse(vfs, uid=uid, gid=gid, umask=config.umask)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def mounted(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.path in fuse_mounts()

    def start(self) -> FuseMount:
        if _fuse is None:
            raise errors.GatewayError("mount: no FUSE binding (pip install mfusepy; apt-get install fuse3)")
        clear_stale_mount(self.path)
        os.makedirs(self.path, exist_ok=True)
        self._thread = threading.Thread(target=self._serve, name="fuse", daemon=True)
        self._thread.start()
        for _ in range(MOUNT_STEPS):
            if self._clock.wait(self._ops.ready, MOUNT_STEP):
                log.info("%s: FUSE mounted", self.path)
                self._widen_kernel_read_ahead()
                return self
            if not self._thread.is_alive():
                break
        self.stop()
        raise errors.GatewayError(f"mount: cannot mount {self.path}: {self._error or 'libfuse did not start'}")

    def _widen_kernel_read_ahead(self) -> None:
        """Let the kernel send 1 MiB reads: one Python callback per MiB instead of eight.

        The kernel caps a FUSE mount's read-ahead at 128 KiB unless its backing
        device info says otherwise, and only root may say so: as anyone else this
        is skipped and the mount works as well, with smaller reads.
        """
        try:
            device = os.stat(self.path).st_dev
            knob = f"/sys/class/bdi/{os.major(device)}:{os.minor(device)}/read_ahead_kb"
            with open(knob, "w") as fh:
                fh.write(str(KERNEL_READ_AHEAD_KB))
        except OSError as exc:
            log.debug("%s: kernel read-ahead left as it is: %s", self.path, exc)

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"fsname": "decypharr", "subtype": "decypharr"}
        if getattr(_fuse, "fuse_version_major", 2) >= 3:   # libfuse 2 refuses these options
            options.update(max_threads=MAX_THREADS, max_idle_threads=MAX_IDLE_THREADS)
        if self._config.allow_other:
            options["allow_other"] = True
        return options

    def _serve(self) -> None:
        try:
            _fuse.FUSE(self._ops, self.path, foreground=True, nothreads=False, **self._options())
        except BaseException as exc:   # reported by start(); the thread must not die silently
            self._error = exc
            log.error("%s: FUSE loop ended: %s", self.path, exc)
        finally:
            self._ops.close_all()

    def stop(self) -> None:
        """Unmount (lazily when busy) and wait for the loop to end."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self.path in fuse_mounts() and not _fusermount(self.path, "-u"):
            _fusermount(self.path, "-uz")
        thread.join(JOIN_TIMEOUT)
        if thread.is_alive():
            log.warning("%s: the FUSE loop did not end after unmounting", self.path)
        else:
            log.info("%s: FUSE unmounted", self.path)
