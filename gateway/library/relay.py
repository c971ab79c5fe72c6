"""A reader that relays one inner stream at a time and closes it when it moves on.

``MemberStream`` (an archive member, one volume range after another) and
``ResilientStream`` (a CDN download, reconnected after a failure) both hold at most one
open stream; dropping it and closing the reader are this one piece of code.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar


class Closable(Protocol):
    def close(self) -> None: ...


S = TypeVar("S", bound=Closable)


class Relay(Generic[S]):
    """Holds ``_stream``, the open inner stream or None; ``close`` closes it."""

    _stream: S | None = None

    def _drop(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def close(self) -> None:
        self._drop()
