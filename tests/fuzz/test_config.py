"""Fuzzing the config parsers: any input gives a value or a ConfigError naming the key."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import Config, parse_config, parse_duration, parse_rate, parse_size
from gateway.errors import ConfigError
from tests.fuzz import FUZZ

KEY = "some.key[0]"

scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
           | st.sampled_from([10 ** 400, -(10 ** 400), math.inf, -math.inf, math.nan, "", " ", "0", "-1"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)

size_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["9" * 400, "1" * 320 + ".5 GiB", "9" * 5000 + "B", "-1", "1e3", "\u0661MB"]),
    st.builds(lambda n, sp, u: f"{n}{sp}{u}", st.text("0123456789.", min_size=1, max_size=420),
              st.sampled_from(["", " "]), st.sampled_from(["", "B", "KB", "mb", "GiB", "T", "i", "x"])),
)
duration_text = st.one_of(
    st.text(max_size=20),
    st.lists(st.sampled_from(["1", "30", "9" * 400, ".", "1.5", "ms", "s", "m", "h", "d", "w", " ", "x", "-"]),
             max_size=8).map("".join),
)
rate_text = st.one_of(
    st.text(max_size=20),
    st.builds(lambda n, u: f"{n}/{u}", st.text("0123456789 ", max_size=5000),
              st.sampled_from(["second", "s", "minute", "MIN", "m", "hour", "h", "day", ""])),
)


def _value_or_config_error(parser, value):
    try:
        return parser(KEY, value)
    except ConfigError as exc:
        assert exc.key == KEY and KEY in str(exc)
        return None


@FUZZ
@given(size_text | json_values)
def test_parse_size_gives_a_size_or_configerror(value: object) -> None:
    size = _value_or_config_error(parse_size, value)
    assert size is None or (isinstance(size, int) and size >= 0)


@FUZZ
@given(duration_text | json_values)
def test_parse_duration_gives_a_finite_duration_or_configerror(value: object) -> None:
    seconds = _value_or_config_error(parse_duration, value)
    assert seconds is None or (isinstance(seconds, float) and math.isfinite(seconds) and seconds >= 0)


@FUZZ
@given(rate_text | json_values)
def test_parse_rate_gives_a_rate_or_configerror(value: object) -> None:
    rate = _value_or_config_error(parse_rate, value)
    if rate is not None:
        count, per = rate
        assert isinstance(count, int) and count > 0 and per in (1.0, 60.0, 3600.0)


UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MB": 1 << 20,
         "MiB": 1 << 20, "G": 1 << 30, "GB": 1 << 30, "GiB": 1 << 30, "T": 1 << 40, "TB": 1 << 40, "TiB": 1 << 40}


@FUZZ
@given(st.integers(0, 1 << 40), st.sampled_from(sorted(UNITS)), st.sampled_from(["", " "]), st.booleans())
def test_a_size_round_trips(n: int, unit: str, space: str, lower: bool) -> None:
    text = f"{n}{space}{unit}"
    assert parse_size(KEY, text.lower() if lower else text) == n * UNITS[unit]
    assert parse_size(KEY, n) == n


DURATIONS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(sorted(DURATIONS)), st.integers(0, 10 ** 6)), min_size=1, max_size=5,
                unique_by=lambda p: p[0]), st.booleans())
def test_a_duration_round_trips(parts: list[tuple[str, int]], spaced: bool) -> None:
    text = (" " if spaced else "").join(f"{n}{u}" for u, n in parts)
    assert parse_duration(KEY, text) == sum(n * DURATIONS[u] for u, n in parts)
    assert parse_duration(KEY, str(parts[0][1])) == parts[0][1]


RATES = {"second": 1, "sec": 1, "s": 1, "minute": 60, "min": 60, "m": 60, "hour": 3600, "h": 3600}


@FUZZ
@given(st.integers(1, 10 ** 9), st.sampled_from(sorted(RATES)), st.sampled_from(["", " "]))
def test_a_rate_round_trips(n: int, unit: str, space: str) -> None:
    assert parse_rate(KEY, f"{n}{space}/{space}{unit}") == (n, float(RATES[unit]))


# ------------------------------------------------------------------ parse_config

TOP_KEYS = ["bind_address", "port", "url_base", "log_level", "use_auth", "enable_webdav_auth", "disable_webdav",
            "download_folder", "categories", "default_download_action", "refresh_interval",
            "max_active_downloads", "allowed_file_types", "min_file_size", "max_file_size", "allow_samples",
            "unpack_archives", "folder_naming", "custom_folders", "debrids", "arrs", "repair", "mount", "notifications"]
SUB_KEYS = ["name", "provider", "api_key", "download_api_keys", "api_url", "rate_limit", "download_uncached",
            "torrents_refresh_interval", "priority", "host", "token", "skip_repair", "selected_debrid",
            "enabled", "interval", "workers", "type", "mount_path", "chunk_size", "uid", "umask", "events",
            "filters", "regex", "size_gt", "file_count_lt", "last_added", "include"]
plausible = json_values | st.sampled_from(["realdebrid", "torbox", "premiumize", "1h", "500MB", "250/minute",
                                           "fuse", "/x", "http://h", "true", "0o22", "022", "symlink", "(a"])
sub_objects = st.dictionaries(st.sampled_from(SUB_KEYS) | st.text(max_size=5), plausible, max_size=6)
section_values = plausible | sub_objects | st.lists(sub_objects, max_size=3) \
    | st.dictionaries(st.text(max_size=6), st.fixed_dictionaries({}, optional={"filters": sub_objects}), max_size=2)
raw_configs = st.dictionaries(st.sampled_from(TOP_KEYS) | st.text(max_size=6), section_values, max_size=6)


@FUZZ
@given(raw_configs | json_values)
def test_parse_config_gives_a_config_or_configerror(raw: object) -> None:
    try:
        cfg = parse_config(raw, "/tmp/config")
    except ConfigError as exc:
        # The key names where the problem is; it is '' only for an unknown key spelt ''.
        assert str(exc).startswith(f"config: {exc.key}: ")
        assert exc.key or (isinstance(raw, dict) and "" in raw)
        return
    assert isinstance(cfg, Config)


# ------------------------------------------------------------------ findings, as named examples

@pytest.mark.parametrize("value", ["9" * 400, "9" * 400 + "TB", "1" * 320 + ".5 GiB"])
def test_an_overflowing_size_is_a_configerror(value: str) -> None:
    """float('9'*400) is inf and int(inf) raised OverflowError."""
    with pytest.raises(ConfigError, match=re.escape(KEY)):
        parse_size(KEY, value)


@pytest.mark.parametrize("value", ["9" * 400, "9" * 400 + "w", "1" * 310 + "d", math.inf, 10 ** 400],
                         ids=["400-digits", "400-digit-weeks", "310-digit-days", "inf", "10**400"])
def test_an_infinite_duration_is_a_configerror(value: object) -> None:
    """Infinity (JSON's Infinity, or 400 digits) passed, and later broke Event.wait and
    monotonic() + interval; a 400-digit int raised OverflowError in float()."""
    with pytest.raises(ConfigError, match=re.escape(KEY)):
        parse_duration(KEY, value)


def test_a_rate_of_5000_digits_is_a_configerror() -> None:
    """int() refuses more than 4300 digits with a bare ValueError."""
    with pytest.raises(ConfigError, match=re.escape(KEY)):
        parse_rate(KEY, "9" * 5000 + "/minute")


@pytest.mark.parametrize("key, value", [("port", "9" * 5000), ("max_active_downloads", " " + "1" * 4400),
                                        ("repair", {"workers": "7" * 4301})])
def test_a_whole_number_of_5000_digits_is_a_configerror(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=re.escape(key)):
        parse_config({key: value})


@pytest.mark.parametrize("key, value", [("bind_address", 10 ** 5000), ("port", -(10 ** 5000)),
                                        ("min_file_size", -(10 ** 5000))],
                         ids=["str-key", "int-key", "size-key"])
def test_the_error_for_a_huge_number_still_names_the_key(key: str, value: int) -> None:
    """Formatting the message with repr() of a 5000-digit int raised ValueError itself."""
    with pytest.raises(ConfigError, match=re.escape(key)):
        parse_config({key: value})


def test_a_premiumize_account_without_rate_limit_is_accepted() -> None:
    """premiumize's default rate is '' (no documented budget): parse_rate refused it, so a
    premiumize account without an explicit rate_limit made the whole config invalid."""
    cfg = parse_config({"debrids": [{"provider": "premiumize", "api_key": "k"}]})
    assert cfg.debrids[0].rate_limit is None
    assert parse_rate(KEY, "") is None and parse_rate(KEY, "  ") is None


@pytest.mark.parametrize("pattern", ["a{4294967296}", "(" * 2000 + ")" * 2000], ids=["huge-repeat", "deep-nesting"])
def test_a_custom_folder_regex_re_cannot_compile_is_a_configerror(pattern: str) -> None:
    with pytest.raises(ConfigError, match="custom_folders.x.filters.regex"):
        parse_config({"custom_folders": {"x": {"filters": {"regex": pattern}}}})
