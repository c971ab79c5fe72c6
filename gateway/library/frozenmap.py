"""``FrozenMap``: an immutable mapping whose next version costs what changed, not its size.

Each snapshot needs its own view of every torrent (100,000 of them) while
the library changes a few at a time; copying the whole dict per change held
the interpreter for milliseconds on every change. A ``FrozenMap`` is a
shared, never-mutated base dict plus a small dict of changes; ``evolve``
copies only the changes, and folds them into a new base once they grow past
a fraction of it, so the cost per change stays small on average.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_GONE = object()
FOLD_MIN = 1024     # changes kept apart before folding, at least
FOLD_SHARE = 16     # ... or this fraction of the base


class FrozenMap(Mapping[K, V], Generic[K, V]):
    __slots__ = ("_base", "_delta", "_len")

    def __init__(self, base: dict[K, V] | None = None, delta: dict[K, object] | None = None,
                 length: int | None = None) -> None:
        self._base: dict[K, V] = base if base is not None else {}
        self._delta: dict[K, object] = delta or {}
        self._len = len(self._base) if length is None else length

    def evolve(self, changes: Mapping[K, V | None]) -> FrozenMap[K, V]:
        """A new map with ``changes`` applied (a None value removes the key)."""
        delta = dict(self._delta)
        length = self._len
        for key, value in changes.items():
            had = key in self
            delta[key] = _GONE if value is None else value
            length += (value is not None) - had
        if len(delta) > max(FOLD_MIN, len(self._base) // FOLD_SHARE):
            return FrozenMap(_folded(self._base, delta), None, length)
        return FrozenMap(self._base, delta, length)

    def __getitem__(self, key: K) -> V:
        value = self._delta.get(key, self._delta)   # the delta itself marks "not in the delta"
        if value is self._delta:
            return self._base[key]
        if value is _GONE:
            raise KeyError(key)
        return value  # type: ignore[return-value]  # the delta holds a V or _GONE, ruled out above

    # Narrower than Mapping.get's overloads (a default of another type): all the library needs.
    def get(self, key: K, default: V | None = None) -> V | None:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        # Mapping.__contains__ takes any object; a key of another type is simply not found.
        value = self._delta.get(key, self._delta)  # type: ignore[arg-type]
        if value is self._delta:
            return key in self._base
        return value is not _GONE

    def __iter__(self) -> Iterator[K]:
        delta = self._delta
        for key in self._base:
            if key not in delta:
                yield key
        for key, value in delta.items():
            if value is not _GONE:
                yield key

    def __len__(self) -> int:
        return self._len


def _folded(base: dict[K, V], delta: dict[K, object]) -> dict[K, V]:
    merged = dict(base)
    for key, value in delta.items():
        if value is _GONE:
            merged.pop(key, None)
        else:
            merged[key] = value  # type: ignore[assignment]  # a V: _GONE is ruled out above
    return merged
