"""The value kinds of config.json: sizes ("500MB", base 1024), durations ("30s", "10m",
"2h", "3d", "1w"), rates, URLs, numbers in range. They are parsed here and nowhere else;
every problem raises ``ConfigError`` naming the key, never a traceback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from gateway.errors import ConfigError

Parser = Callable[[str, Any], Any]

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(second|sec|s|minute|min|m|hour|h)\s*$", re.IGNORECASE)
_RATE_UNITS = {"second": 1, "sec": 1, "s": 1, "minute": 60, "min": 60, "m": 60, "hour": 3600, "h": 3600}


def parse_size(key: str, value: Any) -> int:
    """'500MB' → 524288000 (base 1024); ints pass through; '' → 0 (unset)."""
    if isinstance(value, bool):
        raise ConfigError(key, f"expected a size like '500MB', got {_shown(value)}")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str):
        if not value.strip():
            return 0
        match = _SIZE_RE.match(value)
        if match:
            unit = (match.group(2) or "").upper().replace("I", "").rstrip("B") or "B"
            size = float(match.group(1)) * _SIZE_UNITS[unit if unit != "B" else ""]
            if math.isfinite(size):   # 400 digits make float() infinite, and int(inf) raises
                return int(size)
    raise ConfigError(key, f"expected a size like '500MB', got {_shown(value)}")


def parse_duration(key: str, value: Any) -> float:
    """'1h30m' → 5400.0 seconds; a bare number means seconds; always finite."""
    seconds = math.inf
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        try:
            seconds = float(value)
        except OverflowError:   # an int beyond any float
            pass
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif text and _DURATION_RE.sub("", text) == "":
            seconds = sum(float(n) * _DURATION_UNITS[u.lower()] for n, u in _DURATION_RE.findall(text))
    # Infinity (JSON's Infinity, or 400 digits) would break Event.wait() and deadline arithmetic later.
    if math.isfinite(seconds):
        return seconds
    raise ConfigError(key, f"expected a duration like '30s', '10m', '2h', '3d', got {_shown(value)}")


def parse_rate(key: str, value: Any) -> tuple[int, float] | None:
    """'250/minute' → (250, 60.0); 'off' (or 'none', '0', or '' for unset) → None: no client-side limit."""
    if isinstance(value, str) and value.strip().lower() in ("", "off", "none", "0", "unlimited"):
        return None   # '': premiumize's default (no documented budget) used to be refused
    if isinstance(value, str):
        match = _RATE_RE.match(value)
        count = _whole(match.group(1)) if match else None
        if match and count:
            return count, float(_RATE_UNITS[match.group(2).lower()])
    raise ConfigError(key, f"expected a rate like '250/minute', got {_shown(value)}")


def _whole(digits: str) -> int | None:
    """int() of a digit string, or None past Python's 4300-digit limit (a bare ValueError)."""
    try:
        return int(digits)
    except ValueError:
        return None


def _shown(value: Any) -> str:
    """repr() for an error message: one of an int over 4300 digits raises ValueError itself."""
    try:
        return repr(value)
    except ValueError:
        return f"a {type(value).__name__} too large to show"


def mask_secret(value: str) -> str:
    """'****' plus the last four characters, as the API shows secrets."""
    return "****" + value[-4:] if value else ""


def format_duration(seconds: float) -> str:
    """86400.0 → '1d', 600.0 → '10m': the largest unit that divides it (parse_duration's inverse)."""
    for unit in "wdhm":
        size = _DURATION_UNITS[unit]
        if seconds and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds}s"


def format_size(size: int) -> str:
    """8388608 → '8MB'; 0 → '' (unset), as parse_size reads them."""
    if not size:
        return ""
    for unit in ("T", "G", "M", "K"):
        if size % _SIZE_UNITS[unit] == 0:
            return f"{size // _SIZE_UNITS[unit]}{unit}B"
    return str(size)


# ---------------------------------------------------------------- validation

def _expect(key: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ConfigError(key, f"expected {what}, got {_shown(value)}")
    if not isinstance(value, kind):
        raise ConfigError(key, f"expected {what}, got {_shown(value)}")
    return value


def _str(key: str, value: Any) -> str:
    checked: str = _expect(key, value, str, "a string")
    return checked


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    checked: bool = _expect(key, value, bool, "true or false")
    return checked


def _int(key: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        number = _whole(value.strip())
        if number is None:
            raise ConfigError(key, f"expected a whole number, got one of {len(value.strip())} digits")
        value = number
    _expect(key, value, int, "a whole number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(key, f"must be between {low} and {high}, got {_shown(value)}")
    return int(value)


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    text = _str(key, value).lower()
    if text not in choices:
        raise ConfigError(key, f"must be one of {', '.join(choices)}; got {value!r}")
    return text


def _str_list(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    _expect(key, value, list, "a list of strings")
    return tuple(_str(f"{key}[{i}]", v) for i, v in enumerate(value))


def _no_unknown(key: str, raw: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        where = f"{key}." if key else ""
        raise ConfigError(f"{where}{unknown[0]}", "unknown key")


def _optional_bool(key: str, value: Any) -> bool | None:
    return None if value is None else _bool(key, value)


def _optional_int(key: str, value: Any) -> int | None:
    return None if value is None else _int(key, value, 0)


def _url(key: str, value: Any) -> str:
    text = _str(key, value).strip()
    if text and not re.match(r"^https?://[^/\s]+", text):
        raise ConfigError(key, f"expected an http(s) URL, got {value!r}")
    return text.rstrip("/")


def _list_of(parser: Any) -> Any:
    def parse(key: str, value: Any) -> tuple[Any, ...]:
        _expect(key, value, list, "a list")
        return tuple(parser(f"{key}[{i}]", item) for i, item in enumerate(value))
    return parse


def _url_base(key: str, value: Any) -> str:
    text = "/" + _str(key, value).strip().strip("/")
    if re.search(r"[^A-Za-z0-9._~/-]", text):
        raise ConfigError(key, f"may only hold URL path characters, got {value!r}")
    return text if text == "/" else text + "/"


def _umask(key: str, value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"0?[0-7]{1,4}", value.strip()):
        return int(value.strip(), 8)
    return _int(key, value, 0, 0o777)


def _percent(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(key, f"expected a percentage from 0 to 100, got {_shown(value)}")
    try:
        number = float(str(value).strip().rstrip("%"))
    except ValueError:
        raise ConfigError(key, f"expected a percentage from 0 to 100, got {_shown(value)}") from None
    if not 0 <= number <= 100:
        raise ConfigError(key, f"expected a percentage from 0 to 100, got {_shown(value)}")
    return number


# The parser of each kind of key (a key's own ``parse`` comes first).
_KIND_PARSERS: dict[str, Parser] = {
    "str": _str, "url": _url, "bool": _bool, "int": _int, "size": parse_size, "duration": parse_duration,
    "rate": parse_rate, "list": _str_list, "umask": _umask, "opt_int": _optional_int, "opt_bool": _optional_bool,
    "percent": _percent,
}
