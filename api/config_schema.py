"""The settings form and the OpenAPI ``Config`` schema, derived from the config schema.

Both read the fields of ``gateway.config``'s dataclasses (kind, default, help, now,
secret) and the provider registry (``gateway.providers.MODULES``): a key or a provider
added there shows up here without an edit.
"""

from __future__ import annotations

from dataclasses import Field
from typing import Any

from gateway.config import Config, raw_default, schema_fields, section_class
from gateway.providers import MODULES

# Config kinds the form shows as another of its kinds (settings.js knows: str, int, bool,
# size, duration, list, choice, json, opt_int, opt_bool, secret).
_FORM_KINDS = {"url": "str", "umask": "str", "rate": "str", "percent": "str"}
_STR: dict[str, Any] = {"type": "string"}
_JSON_TYPES: dict[str, dict[str, Any]] = {
    "str": _STR, "url": {"type": "string", "format": "uri"}, "rate": _STR,
    "int": {"type": "integer"}, "bool": {"type": "boolean"},
    "opt_int": {"type": ["integer", "null"]}, "opt_bool": {"type": ["boolean", "null"]},
    "size": {"type": ["string", "integer"], "description": "a size like '500MB' (base 1024), or bytes"},
    "duration": {"type": ["string", "number"], "description": "a duration like '30s', '10m', '2h', '3d', or seconds"},
    "umask": {"type": ["string", "integer"], "description": "octal, like '022'"},
    "list": {"type": ["array", "string"], "items": _STR, "description": "a list, or one string split at commas"},
    "json": {"type": "object", "additionalProperties": True},
    "percent": {"type": ["number", "string"], "description": "a percentage from 0 to 100"},
}


def provider_names() -> list[str]:
    """The registered providers, in registry order."""
    return list(MODULES)


def _choices(f: Field[Any]) -> list[str]:
    return provider_names() if f.name == "provider" else list(f.metadata.get("choices", ()))


def form_field(f: Field[Any], key: str) -> dict[str, Any]:
    """One settings-form field: ``default`` is the value posted when it is emptied."""
    meta = f.metadata
    kind = "secret" if meta.get("secret") and meta["kind"] == "str" else _FORM_KINDS.get(meta["kind"], meta["kind"])
    out: dict[str, Any] = {"key": key, "kind": kind, "default": raw_default(f)}
    if kind == "choice":
        out["choices"] = _choices(f)
    if meta.get("secret") and kind != "secret":
        out["secret"] = True
    if meta.get("help"):
        out["help"] = meta["help"]
    if meta.get("now"):
        out["now"] = True
    return out


def _sections() -> list[dict[str, Any]]:
    sections: dict[str, list[dict[str, Any]]] = {}
    for f in schema_fields(Config):
        kind = f.metadata["kind"]
        if kind == "items":
            continue   # debrids and arrs: lists of their own (below)
        if kind == "section":   # its own keys; a list inside it (usenet.providers) is a list of its own
            sections.setdefault(f.metadata["section"], []).extend(
                form_field(sub, f"{f.name}.{sub.name}") for sub in schema_fields(section_class(f))
                if sub.metadata["kind"] != "items")
        else:
            sections.setdefault(f.metadata["section"] or "General", []).append(form_field(f, f.name))
    return [{"section": name, "fields": fields} for name, fields in sections.items()]


def settings_schema() -> dict[str, Any]:
    """The settings page's data: one field per key, by section, plus one list per list key."""
    out: dict[str, Any] = {"sections": _sections()}
    for f in schema_fields(Config):
        if f.metadata["kind"] == "items":
            out[f.name] = _item_fields(f)
        elif f.metadata["kind"] == "section":   # usenet.providers → "usenet"
            for sub in schema_fields(section_class(f)):
                if sub.metadata["kind"] == "items":
                    out[f.name] = _item_fields(sub)
    return out


def _item_fields(f: Field[Any]) -> list[dict[str, Any]]:
    return [form_field(sub, sub.name) for sub in schema_fields(section_class(f))]


def _json_schema(f: Field[Any]) -> dict[str, Any]:
    meta = f.metadata
    kind = meta["kind"]
    out: dict[str, Any]
    if kind in ("section", "items"):
        inner: dict[str, Any] = {"type": "object", "additionalProperties": False,
                 "properties": {sub.name: _json_schema(sub) for sub in schema_fields(section_class(f))}}
        out = inner if kind == "section" else {"type": "array", "items": inner}
    elif kind == "choice":
        out = {"type": "string", "enum": _choices(f)}
    else:
        out = dict(_JSON_TYPES[kind])
    out["default"] = raw_default(f) if kind != "items" else []
    notes: list[str] = [text for text in (meta.get("help", ""), out.get("description", "")) if text]
    if meta.get("secret"):
        notes.append('secret: answered masked as "****" + its last 4 characters')
    if meta.get("now"):
        notes.append("applies at once")
    if notes:
        out["description"] = "; ".join(notes)
    return out


def config_json_schema() -> dict[str, Any]:
    """The OpenAPI schema of config.json: every key, its type and default."""
    return {"type": "object", "additionalProperties": False,
            "properties": {f.name: _json_schema(f) for f in schema_fields(Config)},
            "description": "config.json as stored (keys as in the README's configuration reference); "
                           'secrets masked as "****" + their last 4 characters'}
