"""The schema machinery: a config key is one dataclass field made by ``setting``.

The parsers, the secret list, the settings form (api/config_schema.py) and the OpenAPI
schema all read these fields: adding a key is adding one field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, field
from typing import Any

from gateway.config.kinds import (
    _KIND_PARSERS,
    Parser,
    _choice,
    _expect,
    _no_unknown,
    format_duration,
    format_size,
)

# ------------------------------------------------------------------- schema
#
# A key is one dataclass field made by ``setting``: its default, its ``kind`` (which
# parser reads it, see ``_KIND_PARSERS``; ``parse`` for one of its own), a ``help`` line,
# ``now`` (applies without a restart), ``secret`` (masked in answers). The parsers, the
# secret list, the settings form (api/config_schema.py) and the OpenAPI schema all read
# these fields: adding a key is adding one field.


def setting(default: Any = MISSING, *, kind: str, help: str = "", now: bool = False, secret: bool = False,
            choices: tuple[str, ...] = (), parse: Parser | None = None, section: str = "",
            factory: Callable[[], Any] | None = None, item: type | None = None) -> Any:
    """One config key (see above). ``factory`` for a sub-section's default, ``item`` for the
    dataclass of a list's entries, ``section`` for the form section a top-level key is in."""
    metadata = {"kind": kind, "help": help, "now": now, "secret": secret, "choices": choices,
                "parse": parse, "section": section, "item": item}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def schema_fields(cls: type) -> tuple[Field[Any], ...]:
    """The keys of a config dataclass, in order (``config_dir`` is not a key)."""
    return tuple(f for f in dataclasses.fields(cls) if f.metadata.get("kind", "internal") != "internal")


def section_class(f: Field[Any]) -> type:
    """The dataclass of a ``section`` key (its default's) or of an ``items`` key's entries."""
    item: type | None = f.metadata.get("item")
    if item is not None:
        return item
    assert callable(f.default_factory), f.name
    return type(f.default_factory())


def live_keys(cls: type) -> frozenset[str]:
    """The top-level keys that apply without a restart: ``now`` on the key, or on every key of
    its section."""
    return frozenset(f.name for f in schema_fields(cls) if f.metadata.get("now") or (
        f.metadata["kind"] == "section" and all(s.metadata.get("now") for s in schema_fields(section_class(f)))))


def _secret_keys(cls: type) -> Iterator[str]:
    for f in schema_fields(cls):
        if f.metadata.get("secret"):
            yield f.name
        if f.metadata["kind"] in ("section", "items"):
            yield from _secret_keys(section_class(f))


def raw_default(f: Field[Any]) -> Any:
    """A key's default as config.json would spell it: '10s', '8MB', '022', [] ... (the
    settings form posts it for an emptied field; the OpenAPI schema documents it)."""
    kind, choices = f.metadata["kind"], f.metadata.get("choices", ())
    if kind == "section":
        return {sub.name: raw_default(sub) for sub in schema_fields(section_class(f))}
    if f.default is MISSING:   # a required key (a debrid's name and provider)
        return choices[0] if choices else ""
    value = f.default
    if kind == "duration":
        return format_duration(value)
    if kind == "size":
        return format_size(value)
    if kind == "umask":
        return f"{value:03o}"
    if kind == "rate":
        return ""   # unset: the provider's documented budget
    if kind == "json":
        return {}
    if isinstance(value, tuple):
        return list(value)
    return value


def _parser(f: Field[Any]) -> Parser:
    """The parser of a key: its own ``parse``, else its kind's."""
    own: Parser | None = f.metadata.get("parse")
    if own is not None:
        return own
    kind = f.metadata["kind"]
    if kind == "choice":
        choices = f.metadata["choices"]
        return lambda k, v: _choice(k, v, choices)
    if kind == "section":
        cls = section_class(f)
        return lambda k, v: _section(k, v, cls)
    return _KIND_PARSERS[kind]


def _parsers(cls: type) -> dict[str, Parser]:
    return {f.name: _parser(f) for f in schema_fields(cls)}


def _section(key: str, raw: Any, cls: type, parsers: Mapping[str, Any] | None = None) -> Any:
    """Build a sub-config dataclass from a dict, one parser per key (by default its fields')."""
    parsers = _parsers(cls) if parsers is None else parsers
    if raw is None:
        raw = {}
    _expect(key, raw, dict, "an object")
    _no_unknown(key, raw, set(parsers))
    values = {name: parsers[name](f"{key}.{name}", raw[name]) for name in parsers if name in raw}
    return cls(**values)
