"""``GET /metrics``: guarded, parseable, the library's figures, and request timing."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import instrument, route_of
from gateway.app import build
from tests.integration.test_auth_rest import setup_user
from tests.integration.test_tree import base, folder
from tests.support import SAMPLE, expected, gateway_config, start_gateway


def scrape(gw, headers: dict[str, str] | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (sample name, sorted labels) → value."""
    response = requests.get(f"{base(gw)}/metrics", headers=headers or {}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_needs_auth(emulator, tmp_path) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), use_auth=True)
    try:
        token = setup_user(gw)
        assert requests.get(f"{base(gw)}/metrics", timeout=10).status_code == 401
        assert requests.get(f"{base(gw)}/metrics", headers={"Authorization": "Bearer wrong"},
                            timeout=10).status_code == 401
        samples = scrape(gw, {"Authorization": f"Bearer {token}"})
        assert value(samples, "decypharr_library_torrents") == len(SAMPLE)
    finally:
        gw.stop()


def test_metrics_report_the_library_and_accounts(gateway) -> None:
    samples = scrape(gateway)
    assert value(samples, "decypharr_library_torrents") == len(SAMPLE)
    assert value(samples, "decypharr_library_bad_torrents") == 0
    assert value(samples, "decypharr_library_group_torrents", group="__all__") == len(SAMPLE)
    assert value(samples, "decypharr_sync_listed", account="realdebrid") == len(SAMPLE)
    assert value(samples, "decypharr_sync_pending", account="realdebrid") == 0
    assert value(samples, "decypharr_provider_sync_errors", account="realdebrid") == 0
    assert value(samples, "decypharr_provider_calls_total", account="realdebrid") >= 1
    assert ("decypharr_provider_rate_limited_total", (("account", "realdebrid"),)) in samples
    assert ("decypharr_budget_waiting", (("account", "realdebrid"), ("lane", "interactive"))) in samples
    for name in ("decypharr_sync_eta_seconds", "decypharr_budget_used", "decypharr_budget_paused_seconds",
                 "decypharr_download_keys_usable"):
        assert (name, (("account", "realdebrid"),)) in samples, name
    for name in ("decypharr_upstream_requests_total", "decypharr_upstream_bytes_total",
                 "decypharr_served_bytes_total", "decypharr_active_streams", "decypharr_cache_hits_total",
                 "decypharr_cache_misses_total", "decypharr_cache_bytes"):
        assert (name, ()) in samples, name
    assert value(samples, "decypharr_figures_error") == 0


def test_webdav_get_is_timed_and_counted(gateway) -> None:
    """Needs the WebDAV app wrapped by ``instrument`` in ``gateway/app.py``."""
    read_through_webdav_and_check(gateway)


def test_instrumented_webdav_app(emulator, tmp_path) -> None:
    """The middleware itself, on the WebDAV app wrapped here whatever app.py does."""
    gw = build(gateway_config(emulator, str(tmp_path / "c")))
    dav = gw.apps["/webdav"]
    if not getattr(dav, "instrumented", False):
        gw.apps["/webdav"] = instrument(dav)
    gw.start(workers=False)
    try:
        gw.refresh_now()
        read_through_webdav_and_check(gw)
    finally:
        gw.stop()


def read_through_webdav_and_check(gw) -> None:
    before = scrape(gw)
    entry = SAMPLE[0]
    path = entry["files"][0]["path"]
    url = f"{base(gw)}/webdav/__all__/{quote(folder(gw, entry))}/{quote(path)}"
    assert requests.get(url, timeout=30).content == expected(entry, path)
    requests.get(f"{base(gw)}/api/browse/", timeout=10)
    requests.get(f"{base(gw)}/version", timeout=10)
    after = scrape(gw)
    count = "decypharr_http_request_duration_seconds_count"
    assert value(after, count, route="webdav", method="GET") == value(before, count, route="webdav", method="GET") + 1
    assert value(after, count, route="browse", method="GET") >= value(before, count, route="browse", method="GET") + 1
    assert value(after, count, route="ui", method="GET") >= value(before, count, route="ui", method="GET") + 2
    total = "decypharr_http_requests_total"
    assert value(after, total, route="webdav", method="GET", status="200") == \
        value(before, total, route="webdav", method="GET", status="200") + 1
    grown = value(after, "decypharr_served_bytes_total") - value(before, "decypharr_served_bytes_total")
    assert grown >= entry["files"][0]["size"]
    assert value(after, "decypharr_upstream_bytes_total") > value(before, "decypharr_upstream_bytes_total")


def test_two_gateways_in_one_process(emulator, tmp_path) -> None:
    first = start_gateway(emulator, str(tmp_path / "a"))
    second = start_gateway(emulator, str(tmp_path / "b"))
    try:
        assert value(scrape(first), "decypharr_library_torrents") == len(SAMPLE)
        assert value(scrape(second), "decypharr_library_torrents") == len(SAMPLE)
    finally:
        second.stop()
        first.stop()


def test_route_labels() -> None:
    def route(path: str, script: str = "", query: str = "") -> str:
        return route_of({"PATH_INFO": path, "SCRIPT_NAME": script, "QUERY_STRING": query})
    assert route("/__all__/x.mkv", "/webdav") == "webdav"
    assert route("/x", "/decypharr/webdav") == "webdav"
    assert route("/api/v2/torrents/info") == "qbit"
    assert route("/sabnzbd/api") == "sabnzbd" and route("/api", query="mode=queue&apikey=x") == "sabnzbd"
    assert route("/api/browse/download/a/b") == "browse"
    assert route("/api/torrents") == "api" and route("/api/logs") == "api"
    assert route("/") == "ui" and route("/metrics") == "ui" and route("/settings", "/decypharr") == "ui"


def test_middleware_times_until_the_body_is_sent() -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self):
            yield b"a"
            yield b"b"

        def close(self) -> None:
            closed.append(True)

    def app(environ, start_response):
        start_response("206 Partial Content", [("Content-Type", "text/plain")])
        return Body()

    from api.metrics import REQUESTS
    wrapped = instrument(app, route="webdav")
    before = REQUESTS.labels("webdav", "PROPFIND", "206")._value.get()
    body = wrapped({"REQUEST_METHOD": "PROPFIND", "PATH_INFO": "/"}, lambda status, headers: None)
    assert REQUESTS.labels("webdav", "PROPFIND", "206")._value.get() == before   # not yet: body unsent
    assert b"".join(body) == b"ab"
    body.close()
    assert closed == [True]
    assert REQUESTS.labels("webdav", "PROPFIND", "206")._value.get() == before + 1
    body.close()   # a second close counts nothing more
    assert REQUESTS.labels("webdav", "PROPFIND", "206")._value.get() == before + 1
