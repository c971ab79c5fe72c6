"""cheroot's connection, with socket I/O that costs less per request and per byte.

cheroot reads and writes its sockets through the pure-Python ``_pyio`` buffered
classes (``cheroot.makefile``). Two of their paths run for every request, and
both are measurably slow for what they do (docs/benchmarks.md, the one-folder
PROPFIND: 0.35 → 0.31 ms on loopback with a lean client):

- ``readline``: cheroot reads the request line and every header with it, and
  ``_pyio``'s version peeks, searches and reads through half a dozen Python
  calls per line. ``LineReader`` answers a line that is already in the buffer
  with one ``find`` and one slice, and leaves every other case (a line not yet
  received, a size limit) to cheroot's reader.
- ``write``: cheroot's writer flushes on every write anyway, through a
  ``bytearray`` (each block copied into it, then copied again by ``bytes()``
  before the send). ``SocketWriter`` sends the caller's bytes as they are,
  one ``send`` per call as cheroot does (so the socket's timeout still applies
  to each send, not to the whole block), looping only when the kernel took part.

Only plain sockets get these; a TLS adapter brings its own file objects.
"""

from __future__ import annotations

from typing import Any

from cheroot.makefile import MakeFile, StreamReader
from cheroot.server import HTTPConnection


class LineReader(StreamReader):
    def readline(self, size: int | None = -1) -> bytes:
        fields: Any = self   # _pyio's buffer and position, which its stubs do not name
        buf, pos = fields._read_buf, fields._read_pos
        end = buf.find(b"\n", pos)
        if end < 0 or (size is not None and 0 <= size < end + 1 - pos):
            return bytes(super().readline(size))
        fields._read_pos = end + 1
        line = buf[pos:end + 1]
        self.bytes_read += len(line)
        return bytes(line)


class SocketWriter:
    """The write side of a connection, as cheroot uses it: ``write``, ``flush``, ``close``."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.bytes_written = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            sent = self._sock.send(view)
            view = view[sent:]
        self.bytes_written += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered."""

    def close(self) -> None:
        self.closed = True


def make_file(sock: Any, mode: str = "r", bufsize: int = 8192) -> Any:
    return LineReader(sock, mode, bufsize) if "r" in mode else SocketWriter(sock)


class Connection(HTTPConnection):
    """Set as the server's ``ConnectionClass``."""

    def __init__(self, server: Any, sock: Any, makefile: Any = MakeFile) -> None:
        super().__init__(server, sock, make_file if makefile is MakeFile else makefile)
