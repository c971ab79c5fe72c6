"""Fuzzing the path normaliser (fs/paths.py) and the name sanitiser (gateway/library/naming.py).

Every result segment is one safe, non-empty name: no '/', no NUL, never '.' or
'..', writable as UTF-8; and normalising a result again changes nothing.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fs import paths
from gateway.library.naming import sanitize, split_path
from tests.fuzz import FUZZ

# Path-ish text: the separators, dots, NUL, controls, combining marks and whitespace
# that matter, mixed with anything else (lone surrogates too: JSON "\udc80" gives one).
pieces = st.sampled_from(["/", "\\", ".", "..", "\x00", " ", "\t", "\n", "\x01", "\x7f", "\u0301", "\u0308",
                          "e", "A", "\u212b", "\ufb01", "\u2215", "\u29f5", "\u00a0", "\u200b", "\udc80", "\ud800",
                          "%2e", "~"])
path_text = st.lists(pieces | st.text(max_size=4) | st.characters(), max_size=12).map("".join)


def assert_safe_segment(part: str) -> None:
    assert part, "empty segment"
    assert "/" not in part and "\x00" not in part
    assert part not in (".", "..")
    part.encode("utf-8")   # a file name the OS and every client can carry
    assert unicodedata.is_normalized("NFC", part)


# ------------------------------------------------------------------ fs/paths.split

@FUZZ
@given(path_text)
def test_split_gives_safe_segments_or_filenotfound(path: str) -> None:
    try:
        parts = paths.split(path)
    except FileNotFoundError:
        assert "\x00" in path or ".." in path.replace("\\", "/").split("/") or any(
            "\ud800" <= ch <= "\udfff" for ch in path)
        return
    for part in parts:
        assert_safe_segment(part)
        assert "\\" not in part
    assert paths.split("/".join(parts)) == parts
    assert paths.split(paths.join(*parts)) == parts


# ------------------------------------------------------------------ naming.sanitize / split_path

@FUZZ
@given(path_text)
def test_sanitize_gives_one_safe_segment_and_is_idempotent(name: str) -> None:
    once = sanitize(name)
    assert_safe_segment(once)
    assert "\\" not in once and once == once.strip()
    assert sanitize(once) == once


@FUZZ
@given(path_text)
def test_split_path_gives_safe_segments_and_is_idempotent(path: str) -> None:
    parts = split_path(path)
    for part in parts:
        assert_safe_segment(part)
        assert "\\" not in part
    assert split_path("/".join(parts)) == parts


@FUZZ
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Zs", "Zl", "Zp", "Co", "Cn"),
                             exclude_characters="/\\"), min_size=1, max_size=20))
def test_sanitize_keeps_an_ordinary_name(name: str) -> None:
    name = unicodedata.normalize("NFC", name)
    if name.strip() in (".", ".."):
        return
    assert sanitize(name) == name.strip()


# ------------------------------------------------------------------ findings, as named examples

@pytest.mark.parametrize("name, want", [
    ("e\x01\u0301", "\u00e9"),     # a control between a letter and its accent: NFC only after it is dropped
    ("e\x00\u0301", "\u00e9"),     # the same with NUL
    (" \x00.\x00 ", "_"),          # NUL-padded '.'
])
def test_sanitize_normalises_after_dropping(name: str, want: str) -> None:
    assert sanitize(name) == want and sanitize(want) == want


@pytest.mark.parametrize("name", ["\udc80", "a\ud800b", "\udcff.mkv"])
def test_sanitize_replaces_lone_surrogates(name: str) -> None:
    out = sanitize(name)
    assert out.encode("utf-8") and "\ufffd" in out


@pytest.mark.parametrize("path", ["a/\udc80/b", "\udc80", "/__all__/Am\udce9lie"])
def test_split_refuses_lone_surrogates(path: str) -> None:
    """FUSE hands undecodable names over as surrogates; no name in the tree has one."""
    with pytest.raises(FileNotFoundError):
        paths.split(path)
