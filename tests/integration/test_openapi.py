"""``GET /api/openapi.json`` describes exactly the app's ``/api`` routes (but qBit's ``/api/v2``).

The route set is read from the running gateway's root Bottle app, so a route
added without documenting it fails here, and so does a documented route that
does not exist.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

import bottle
import requests

from tests.integration.test_tree import base
from tests.support import start_gateway

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
WILDCARD = re.compile(r"<([^:>]+)(?::[^>]*)?>")
EXTRAS = {("get", "/version"), ("get", "/health"), ("post", "/login"), ("get", "/metrics"),
          ("get", "/sabnzbd/api"), ("post", "/sabnzbd/api")}


def root_bottle(gw: Any) -> bottle.Bottle:
    """The root Bottle app among ``gw.apps``, through any middleware wrapped around it
    (an ``app`` attribute, ``__wrapped__``, or a closure holding it)."""
    for mounted in gw.apps.values():
        queue, seen = deque([mounted]), set()
        while queue:
            item = queue.popleft()
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, bottle.Bottle):
                if any(r.rule == "/health" for r in item.routes):
                    return item
                continue
            queue.extend(x for x in (getattr(item, "app", None), getattr(item, "__wrapped__", None)) if x is not None)
            for cell in getattr(item, "__closure__", None) or ():
                try:
                    queue.append(cell.cell_contents)
                except ValueError:   # an empty cell
                    pass
    raise AssertionError("no Bottle app with /health among gateway.apps")


def app_operations(gw: Any) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every /api route but /api/v2/*, wildcards as {name}."""
    out = set()
    for route in root_bottle(gw).routes:
        if not route.rule.startswith("/api/") or route.rule.startswith("/api/v2/"):
            continue
        method = "get" if route.method == "ANY" else route.method.lower()
        out.add((method, WILDCARD.sub(r"{\1}", route.rule)))
    return out


def doc_operations(doc: dict[str, Any], prefix: str = "/api/") -> set[tuple[str, str]]:
    return {(method, path) for path, item in doc["paths"].items() if path.startswith(prefix)
            for method in item if method in HTTP_METHODS}


def fetch(gw: Any, **kwargs: Any) -> dict[str, Any]:
    answer = requests.get(f"{base(gw)}{gw.config.prefix}/api/openapi.json", timeout=10, **kwargs)
    assert answer.status_code == 200, answer.text[:200]
    assert answer.headers["Content-Type"].startswith("application/json")
    return answer.json()   # valid JSON, or this raises


def test_document_and_routes_match_both_ways(gateway) -> None:
    doc = fetch(gateway)
    routes, documented = app_operations(gateway), doc_operations(doc)
    assert routes, "no /api routes found"
    undocumented = sorted(routes - documented)
    missing = sorted(documented - routes)
    assert not undocumented, f"routes missing from the OpenAPI document: {undocumented}"
    assert not missing, f"documented routes the app does not have: {missing}"


def test_qbit_and_sab_forms_are_left_to_their_own_docs(gateway) -> None:
    doc = fetch(gateway)
    assert not [p for p in doc["paths"] if p.startswith("/api/v2")]
    assert "/api" not in doc["paths"]   # the SABnzbd /api?mode= form
    assert "/api/v2" in doc["info"]["description"] and "qBittorrent" in doc["info"]["description"]
    assert "mode=" in doc["info"]["description"]


def test_document_is_well_formed(gateway) -> None:
    doc = fetch(gateway)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["servers"] == [{"url": "/"}]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert (schemes["session"]["type"], schemes["session"]["in"], schemes["session"]["name"]) == \
        ("apiKey", "cookie", "decypharr_session")
    assert doc_operations(doc, "/") >= EXTRAS
    operation_ids = []
    for path, item in doc["paths"].items():
        declared = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            assert method in HTTP_METHODS, (path, method)
            assert operation.get("responses"), (method, path)
            assert all(re.fullmatch(r"[1-5]\d\d", status) for status in operation["responses"]), (method, path)
            params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert params == declared, (method, path, params)
            if operation.get("security") != [] and path.startswith("/api/"):
                assert "401" in operation["responses"], (method, path)   # guarded: says so
            operation_ids.append(operation.get("operationId"))
    named = [i for i in operation_ids if i]
    assert len(named) == len(set(named)), "operationIds must be unique"
    # every $ref points at a schema that exists
    schemas = doc["components"]["schemas"]
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', requests.compat.json.dumps(doc)))
    assert refs and refs <= set(schemas), refs - set(schemas)
    # the shapes of docs/api.md are there
    record = schemas["ImportRecord"]["properties"]
    assert {"hash", "state", "attempts", "kind", "files"} <= set(record)
    assert {"counts", "broken_items", "unknown_items"} <= set(schemas["RepairJob"]["properties"])
    assert {"upstream", "cache", "streams", "mount", "library"} <= set(schemas["Stats"]["properties"])


def test_public_routes_are_marked_public(gateway) -> None:
    from api.auth import PUBLIC

    doc = fetch(gateway)
    for method, path in PUBLIC:
        operation = doc["paths"].get(path, {}).get(method.lower())
        if operation is not None:
            assert operation.get("security") == [], (method, path)
    assert doc["paths"]["/api/openapi.json"]["get"].get("security") != []


def test_document_needs_the_token_when_auth_is_on(emulator, tmp_path) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), use_auth=True, url_base="/base")
    try:
        token = gw.auth.setup("admin", "correct horse")
        url = f"{base(gw)}/base/api/openapi.json"
        refused = requests.get(url, timeout=10)
        assert refused.status_code == 401 and refused.json()["code"] == 401
        assert requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
        doc = fetch(gw, headers={"Authorization": f"Bearer {token}"})
        assert doc["servers"] == [{"url": "/base"}]   # url_base, as mounted
        assert doc_operations(doc) == app_operations(gw)
    finally:
        gw.stop()
