"""One schema, one provider list: the settings form, the OpenAPI schema and every message that
names providers are derived from gateway.config's fields and the provider registry."""

from __future__ import annotations

import html
import re
from dataclasses import Field
from typing import Any

import pytest
import requests

from api.openapi import document
from api.ui import settings_schema
from gateway.cli import demo_providers, parse_args
from gateway.config import PROVIDERS, Config, parse_config, raw_default, schema_fields, section_class
from gateway.errors import ConfigError
from gateway.providers import MODULES
from tests.support import start_gateway

REGISTERED = list(MODULES)


def config_keys() -> list[tuple[str, str, Field[Any]]]:
    """(where, key, field) of every key: top level, sections as 'repair.enabled', list entries."""
    out = []
    for f in schema_fields(Config):
        kind = f.metadata["kind"]
        if kind == "items":
            out += [(f.name, sub.name, sub) for sub in schema_fields(section_class(f))]
        elif kind == "section":
            for sub in schema_fields(section_class(f)):
                if sub.metadata["kind"] == "items":   # a list inside a section: usenet.providers
                    out += [(f"{f.name}.{sub.name}", entry.name, entry) for entry in schema_fields(section_class(sub))]
                else:
                    out.append(("", f"{f.name}.{sub.name}", sub))
        else:
            out.append(("", f.name, f))
    return out


def form_fields() -> dict[tuple[str, str], dict[str, Any]]:
    schema = settings_schema()
    found = {("", spec["key"]): spec for section in schema["sections"] for spec in section["fields"]}
    for list_key in {where for where, _, _ in config_keys() if where}:
        found.update({(list_key, spec["key"]): spec for spec in schema[list_key.split(".")[0]]})
    return found


def openapi_property(where: str, key: str) -> dict[str, Any]:
    config = document()["components"]["schemas"]["Config"]["properties"]
    if where:
        node = config
        *parents, last = where.split(".")
        for parent in parents:
            node = node[parent]["properties"]
        return node[last]["items"]["properties"][key]
    node = config
    *parents, last = key.split(".")
    for parent in parents:
        node = node[parent]["properties"]
    return node[last]


def test_the_schema_holds_every_key_this_test_knows() -> None:
    keys = {key for _, key, _ in config_keys()}
    assert {"port", "repair.workers", "mount.umask", "notifications.events", "api_key", "token"} <= keys


@pytest.mark.parametrize(("where", "key", "f"), config_keys(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_key_is_in_the_form_and_the_openapi_schema_with_the_same_default(where: str, key: str,
                                                                                f: Field[Any]) -> None:
    spec = form_fields()[(where, key)]
    prop = openapi_property(where, key)
    assert spec["default"] == prop["default"] == raw_default(f)
    if f.metadata.get("secret"):
        assert spec["kind"] == "secret" or spec.get("secret") is True
        assert "masked" in prop["description"]
    if f.metadata.get("choices"):
        assert spec["choices"] == prop["enum"]


def test_form_defaults_parse_back_to_the_dataclass_defaults() -> None:
    """What the form posts for an emptied field means the same as leaving the key out."""
    raw = {key: spec["default"] for (where, key), spec in form_fields().items()
           if not where and "." not in key and key != "download_folder"}
    sections: dict[str, dict[str, Any]] = {}
    for (where, key), spec in form_fields().items():
        if not where and "." in key:
            section, sub = key.split(".")
            sections.setdefault(section, {})[sub] = spec["default"]
    cfg = parse_config({**raw, **sections}, "/tmp/c")
    plain = parse_config({}, "/tmp/c")
    assert cfg == plain


def test_every_registered_provider_is_listed_everywhere() -> None:
    assert list(PROVIDERS) == REGISTERED
    debrid_form = {spec["key"]: spec for spec in settings_schema()["debrids"]}
    assert debrid_form["provider"]["choices"] == REGISTERED
    schemas = document()["components"]["schemas"]
    assert schemas["DebridCheckRequest"]["properties"]["provider"]["enum"] == REGISTERED
    assert schemas["Config"]["properties"]["debrids"]["items"]["properties"]["provider"]["enum"] == REGISTERED
    with pytest.raises(ConfigError) as bad:
        parse_config({"debrids": [{"name": "x", "provider": "nope", "api_key": "k"}]})
    with pytest.raises(ConfigError) as demo:
        demo_providers("nope")
    for message in (str(bad.value), str(demo.value)):
        assert all(name in message for name in REGISTERED), message
    assert demo_providers("all") == tuple(REGISTERED)


def test_the_cli_help_names_every_provider(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in REGISTERED)


def test_the_setup_page_and_its_check_name_every_provider(emulator, tmp_path) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), use_auth=False)
    try:
        b = f"http://127.0.0.1:{gw.port}"
        page = requests.get(f"{b}/setup", headers={"Accept": "text/html"}, timeout=10)
        options = [html.unescape(v) for v in re.findall(r'<option value="([^"]*)"', page.text)]
        assert options == REGISTERED
        check = requests.post(f"{b}/api/setup/debrid-check", json={"provider": "nope", "api_key": "k"}, timeout=10)
        assert check.json()["ok"] is False and all(name in check.json()["error"] for name in REGISTERED)
    finally:
        gw.stop()
