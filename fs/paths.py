"""Path handling shared by every frontend: split, and refuse anything that escapes."""

from __future__ import annotations

import unicodedata


def split(path: str) -> list[str]:
    """'/__all__/Movie/a.mkv' → ['__all__', 'Movie', 'a.mkv'].

    Raises ``FileNotFoundError`` for '..' segments, NUL bytes or lone surrogates
    (undecodable bytes, as FUSE hands them over): such a path names nothing in the
    tree (its names are valid UTF-8) and must never reach a 500.
    """
    if "\x00" in path:
        raise FileNotFoundError("path contains NUL")
    if not path.isascii():
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            raise FileNotFoundError("path is not valid UTF-8") from None
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise FileNotFoundError("path escapes the tree")
    return [unicodedata.normalize("NFC", p) for p in parts]


def join(*parts: str) -> str:
    return "/" + "/".join(p.strip("/") for p in parts if p.strip("/"))
