"""``GET /metrics`` (Prometheus text format) and the WSGI middleware that times every request.

The gateway's figures are read at scrape time by a custom collector (no
provider call: ``figures()`` reads memory only). HTTP latencies live in one
module-level registry, shared by every ``instrument``-ed app of the process
(the Bottle root and the WebDAV app), created once so that several gateways
in one test process never register a metric twice. ``/metrics`` sits behind
the one guard like every other non-public route.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import bottle
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

Figures = Callable[[], dict[str, Any]]

# ------------------------------------------------------------------ HTTP timing

disable_created_metrics()   # no *_created series: they double every counter's output for nothing
HTTP_REGISTRY = CollectorRegistry(auto_describe=True)
ROUTES = ("webdav", "qbit", "sabnzbd", "browse", "api", "ui")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "PROPPATCH",
                     "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK"})
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)

REQUEST_SECONDS = Histogram("decypharr_http_request_duration_seconds",
                            "Time from a request's arrival until its response body is fully sent",
                            ("route", "method"), buckets=BUCKETS, registry=HTTP_REGISTRY)
REQUESTS = Counter("decypharr_http_requests", "HTTP requests answered",
                   ("route", "method", "status"), registry=HTTP_REGISTRY)


@functools.lru_cache(maxsize=1024)   # routes x methods x statuses: a few hundred at most
def _series(route: str, method: str, status: str) -> tuple[Any, Any]:
    """The two series a request lands in; ``labels()`` takes a lock and builds a key each call,
    a measurable part of a small PROPFIND's time, so each pair is looked up once."""
    return REQUEST_SECONDS.labels(route, method), REQUESTS.labels(route, method, status)


def route_of(environ: dict[str, Any]) -> str:
    """The route label of a request: a small fixed set, never the path itself."""
    script = environ.get("SCRIPT_NAME", "") or ""
    path = environ.get("PATH_INFO", "") or ""
    if script.endswith("/webdav") or path == "/webdav" or path.startswith("/webdav/"):
        return "webdav"
    if path == "/api/v2" or path.startswith("/api/v2/"):
        return "qbit"
    if path.startswith("/sabnzbd") or (path == "/api" and "mode=" in (environ.get("QUERY_STRING") or "")):
        return "sabnzbd"
    if path == "/api/browse" or path.startswith("/api/browse/"):
        return "browse"
    if path == "/api" or path.startswith("/api/"):
        return "api"
    return "ui"


class _Timed:
    """The response iterable, passed through untouched; ``close()`` (called by the server
    once the body is sent, or the client gone) records the request."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self._body = body
        self._done = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._done()


class Instrumented:
    """WSGI middleware: ``decypharr_http_request_duration_seconds{route,method}`` and
    ``decypharr_http_requests_total{route,method,status}``. Any other attribute is the
    wrapped app's (``apps[prefix].routes`` still lists the Bottle routes)."""

    instrumented = True

    def __init__(self, app: Any, route: str | None = None) -> None:
        if route is not None and route not in ROUTES:
            raise ValueError(f"route must be one of {ROUTES}")
        self.__wrapped__ = app
        self._route = route

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__wrapped__, name)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        label = self._route or route_of(environ)
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        method = method if method in METHODS else "other"
        status = ["000"]
        recorded = [False]

        def record() -> None:
            if recorded[0]:
                return
            recorded[0] = True
            seconds, count = _series(label, method, status[0])
            seconds.observe(time.perf_counter() - started)
            count.inc()

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = (status_line or "000")[:3]
            if exc_info is not None:
                return start_response(status_line, headers, exc_info)
            return start_response(status_line, headers)

        try:
            body = self.__wrapped__(environ, start)
        except BaseException:
            status[0] = "500"
            record()
            raise
        return _Timed(body, record)


def instrument(app: Any, route: str | None = None) -> Any:
    """``app`` timed and counted; ``route`` fixes the route label (for an app mounted at a
    known place, such as the WebDAV app); otherwise it comes from the path."""
    return Instrumented(app, route)


# ------------------------------------------------------------------ figures


def _num(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=list(labels))


class FiguresCollector(Collector):
    """Reads ``figures()`` at each scrape and turns it into metric families."""

    def __init__(self, figures: Figures) -> None:
        self._figures = figures

    def collect(self) -> Iterable[Metric]:
        try:
            figures = self._figures()
        except Exception:
            log.warning("metrics: cannot read the gateway's figures", exc_info=True)
            figures = None
        error = _gauge("decypharr_figures_error", "1 when the last scrape could not read the gateway's figures")
        error.add_metric([], 0.0 if figures is not None else 1.0)
        yield error
        if figures is None:
            return
        yield from _library(figures.get("library") or {})
        yield from _sync(figures.get("sync") or {})
        yield from _imports(figures.get("imports") or {})
        yield from _streaming(figures)
        yield from _cache(figures.get("cache"))
        yield from _usenet(figures.get("usenet") or {})


def _usenet(servers: dict[str, Any]) -> Iterator[Metric]:
    """Per NNTP server (contract §8): connections open and allowed, articles, bytes, missing, errors."""
    families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
        "connections": _gauge("decypharr_usenet_connections", "Connections open to the usenet server", ("server",)),
        "max_connections": _gauge("decypharr_usenet_max_connections", "The server's connection limit", ("server",)),
        "articles": _counter("decypharr_usenet_articles", "Articles fetched from the server", ("server",)),
        "bytes": _counter("decypharr_usenet_bytes", "Decoded bytes fetched from the server", ("server",)),
        "missing": _counter("decypharr_usenet_missing", "Articles the server said it lacks (430)", ("server",)),
        "errors": _counter("decypharr_usenet_errors", "Failed exchanges with the server", ("server",)),
    }
    for server, stats in sorted(servers.items()):
        for key, family in families.items():
            family.add_metric([str(server)], _num((stats or {}).get(key)))
    yield from families.values()


def _library(library: dict[str, Any]) -> Iterator[Metric]:
    if "torrents" not in library:   # not the library's figures: report nothing rather than zeros
        return
    torrents = _gauge("decypharr_library_torrents", "Torrents in the library (every account)")
    torrents.add_metric([], _num(library.get("torrents")))
    yield torrents
    groups = _gauge("decypharr_library_group_torrents", "Torrents per top-level folder", ("group",))
    for name, count in sorted((library.get("groups") or {}).items()):
        groups.add_metric([str(name)], _num(count))
    yield groups
    bad = _gauge("decypharr_library_bad_torrents", "Torrents the provider reports broken or dead")
    bad.add_metric([], _num(library.get("bad")))
    yield bad


def _sync(sync: dict[str, Any]) -> Iterator[Metric]:
    g = {
        "listed": _gauge("decypharr_sync_listed", "Torrents the last listing returned", ("account",)),
        "with_details": _gauge("decypharr_sync_with_details", "Listed torrents whose file lists are known",
                               ("account",)),
        "pending": _gauge("decypharr_sync_pending", "Listed torrents still waiting for their details",
                          ("account",)),
        "eta": _gauge("decypharr_sync_eta_seconds", "Estimated seconds until every detail is fetched",
                      ("account",)),
        "errors": _gauge("decypharr_provider_sync_errors", "1 when the account's last listing failed",
                         ("account",)),
        "used": _gauge("decypharr_budget_used", "Calls counted in the rate window now", ("account",)),
        "in_flight": _gauge("decypharr_budget_in_flight", "Provider calls under way", ("account",)),
        "waiting": _gauge("decypharr_budget_waiting", "Calls waiting for a budget slot", ("account", "lane")),
        "paused": _gauge("decypharr_budget_paused_seconds", "Seconds left of a pause after a 429",
                         ("account",)),
        "keys": _gauge("decypharr_download_keys", "Download API keys configured", ("account",)),
        "usable": _gauge("decypharr_download_keys_usable", "Download API keys usable now", ("account",)),
        "disabled": _gauge("decypharr_account_disabled",
                           "1 while the account is disabled (its key refused, premium expired)",
                           ("account", "reason")),
        "since": _gauge("decypharr_account_state_since_seconds",
                        "Wall time (epoch seconds) of the account's last state change", ("account",)),
    }
    c = {
        "calls": _counter("decypharr_provider_calls", "Provider API calls made", ("account",)),
        "limited": _counter("decypharr_provider_rate_limited", "Provider answers of 429 (rate limited)",
                            ("account",)),
        "sync_calls": _counter("decypharr_sync_calls", "Sync calls by kind (listing, details)",
                               ("account", "kind")),
    }
    for account, stats in sorted(sync.items()):
        if not isinstance(stats, dict):
            continue
        name = [str(account)]
        g["listed"].add_metric(name, _num(stats.get("listed")))
        g["with_details"].add_metric(name, _num(stats.get("with_details")))
        g["pending"].add_metric(name, _num(stats.get("pending")))
        g["eta"].add_metric(name, _num(stats.get("eta_seconds")))
        g["errors"].add_metric(name, 1.0 if stats.get("error") else 0.0)
        for kind, count in sorted((stats.get("calls") or {}).items()):
            c["sync_calls"].add_metric([str(account), str(kind)], _num(count))
        budget = stats.get("budget") or {}
        g["used"].add_metric(name, _num(budget.get("used")))
        g["in_flight"].add_metric(name, _num(budget.get("in_flight")))
        for lane, count in sorted((budget.get("waiting") or {}).items()):
            g["waiting"].add_metric([str(account), str(lane)], _num(count))
        g["paused"].add_metric(name, _num(budget.get("paused_for")))
        c["calls"].add_metric(name, _num(budget.get("calls")))
        c["limited"].add_metric(name, _num(budget.get("rate_limited")))
        keys = [k for k in stats.get("download_keys") or () if isinstance(k, dict)]
        g["keys"].add_metric(name, float(len(keys)))
        g["usable"].add_metric(name, float(sum(1 for k in keys if k.get("usable"))))
        health = stats.get("account") or {}
        g["disabled"].add_metric([str(account), str(health.get("reason") or "")],
                                 1.0 if health.get("state") == "disabled" else 0.0)
        g["since"].add_metric(name, _num(health.get("since")))
    yield from g.values()
    yield from c.values()


def _imports(imports: dict[str, Any]) -> Iterator[Metric]:
    family = _gauge("decypharr_imports", "Imports by state", ("state",))
    for state, count in sorted(imports.items()):
        family.add_metric([str(state)], _num(count))
    yield family


def _streaming(figures: dict[str, Any]) -> Iterator[Metric]:
    upstream = figures.get("upstream") or {}
    requests = _counter("decypharr_upstream_requests", "Range requests sent to the providers' CDNs")
    requests.add_metric([], _num(upstream.get("requests")))
    yield requests
    fetched = _counter("decypharr_upstream_bytes", "Bytes read from the providers' CDNs")
    fetched.add_metric([], _num(upstream.get("bytes")))
    yield fetched
    served = _counter("decypharr_served_bytes", "File bytes served to clients (WebDAV, browse, FUSE)")
    served.add_metric([], _num(figures.get("served_bytes")))
    yield served
    streams = _gauge("decypharr_active_streams", "Files being read now")
    streams.add_metric([], float(len(figures.get("streams") or ())))
    yield streams
    mount = figures.get("mount") or {}
    mounted = _gauge("decypharr_mount_mounted", "1 when the FUSE mount is up")
    mounted.add_metric([], 1.0 if mount.get("mounted") else 0.0)
    yield mounted


def _cache(cache: dict[str, Any] | None) -> Iterator[Metric]:
    cache = cache or {}   # no chunk cache (no FUSE mount): zeros, so every series always exists
    for name, key, doc in (("decypharr_cache_hits", "hits", "Chunk reads served from the disk cache"),
                           ("decypharr_cache_misses", "misses", "Chunk reads that had to fetch"),
                           ("decypharr_cache_upstream_fetches", "upstream_fetches", "Fetches made by the cache"),
                           ("decypharr_cache_fetched_bytes", "fetched_bytes", "Bytes the cache fetched")):
        family = _counter(name, doc)
        family.add_metric([], _num(cache.get(key)))
        yield family
    for name, key, doc in (("decypharr_cache_bytes", "bytes_on_disk", "Bytes the chunk cache holds on disk"),
                           ("decypharr_cache_files", "files", "Files with chunks in the cache"),
                           ("decypharr_cache_max_bytes", "max_bytes", "The chunk cache's size limit")):
        gauge = _gauge(name, doc)
        gauge.add_metric([], _num(cache.get(key)))
        yield gauge


# ------------------------------------------------------------------ the route


def render(registry: CollectorRegistry) -> bytes:
    """The gateway's figures, then the process-wide HTTP timings."""
    return generate_latest(registry) + generate_latest(HTTP_REGISTRY)


def make_metrics_app(figures: Figures) -> bottle.Bottle:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FiguresCollector(figures))
    app = bottle.Bottle()

    def metrics() -> Any:
        try:
            body = render(registry)
        except Exception:
            log.exception("metrics: cannot render")
            return bottle.HTTPResponse('{"error":"internal error","code":500}', status=500,
                                       headers={"Content-Type": "application/json"})
        return bottle.HTTPResponse(body, status=200, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.route("/metrics", "GET", metrics)
    return app
