"""7z fixtures through py7zr: Copy-method archives (streamable) and compressed ones (refused),
single or split into ``.7z.001``, ``.7z.002``... volumes as posters split them."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import py7zr

COPY: list[dict[str, Any]] = [{"id": py7zr.FILTER_COPY}]
LZMA2: list[dict[str, Any]] = [{"id": py7zr.FILTER_LZMA2, "preset": 1}]


def sevenzip_archive(members: Sequence[tuple[str, bytes]], *,
                     filters: list[dict[str, Any]] | None = None) -> bytes:
    """One .7z holding ``members`` (name, bytes) in order; Copy method unless ``filters``."""
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", filters=COPY if filters is None else filters) as archive:
        for name, data in members:
            archive.writestr(data, name)
    return buf.getvalue()


def split_volumes(data: bytes, base_name: str, volume_size: int) -> list[tuple[str, bytes]]:
    """Cut an archive into ``base_name.001``, ``.002``... of ``volume_size`` bytes (last shorter)."""
    if volume_size <= 0:
        raise ValueError("volume_size must be positive")
    count = max(1, -(-len(data) // volume_size))
    return [(f"{base_name}.{i + 1:03d}", data[i * volume_size:(i + 1) * volume_size])
            for i in range(count)]


def sevenzip_set(name: str, members: Sequence[tuple[str, bytes]], *,
                 volume_size: int | None = None,
                 filters: list[dict[str, Any]] | None = None) -> list[tuple[str, bytes]]:
    """Release files for an archive ``name.7z``: one file, or volumes ``name.7z.001``..."""
    data = sevenzip_archive(members, filters=filters)
    if volume_size is None:
        return [(f"{name}.7z", data)]
    return split_volumes(data, f"{name}.7z", volume_size)
