"""The figures /health, /api/stats and /metrics report: read from memory at request time,
never a provider call or a lock held over I/O."""

from __future__ import annotations

from typing import Any

from gateway.app.assembly import Gateway

USENET_HEALTH_KEYS = ("connections", "max_connections", "articles", "bytes", "missing", "errors", "state")


def health_figures(gateway_ref: list[Gateway]) -> dict[str, Any]:
    """In-memory figures only (no provider call, no lock held over I/O): answers at once."""
    gateway = gateway_ref[0]
    snapshot = gateway.library.snapshot()
    health = {"status": "ok", "torrents": len(snapshot.torrents), "generation": snapshot.generation,
              "providers": gateway.library.sync_stats(), "accounts": _accounts(gateway)}
    if gateway.usenet is not None:
        # Exactly contract §8's figures per server; /api/stats carries the rest (reason, limit, peak ...).
        health["usenet"] = {name: {key: figures[key] for key in USENET_HEALTH_KEYS}
                            for name, figures in gateway.usenet.health().items()}
    if gateway.usenet_files is not None:
        health["usenet_reads"] = gateway.usenet_files.stats()   # zero-filled and failed article reads
    return health


def _accounts(gateway: Gateway) -> dict[str, Any]:
    """Each account's state: ``ok``, or ``disabled`` with the reason and the time (health.py)."""
    return {name: provider.health.status() for name, provider in gateway.providers.items()}


def stats_figures(gateway_ref: list[Gateway]) -> dict[str, Any]:
    gateway = gateway_ref[0]
    counters = gateway.streamer.counters
    return {"upstream": {"requests": counters.upstream_requests, "bytes": counters.upstream_bytes},
            "cache": gateway.files.stats() if gateway.files is not None else None,
            "served_bytes": gateway.vfs.streams.served_bytes,
            "streams": gateway.vfs.streams.snapshot(),
            "library": gateway.library.sync_stats(), "accounts": _accounts(gateway),
            "mount": {"type": gateway.config.mount.type, "path": gateway.mount.path if gateway.mount else "",
                      "mounted": gateway.mount.mounted if gateway.mount else False},
            "usenet": gateway.usenet.health() if gateway.usenet is not None else {},
            "usenet_reads": gateway.usenet_files.stats() if gateway.usenet_files is not None else {}}


def metrics_figures(gateway_ref: list[Gateway]) -> dict[str, Any]:
    """Everything /metrics reports, read from memory at scrape time (no provider call)."""
    gateway = gateway_ref[0]
    snapshot = gateway.library.snapshot()
    groups = {name: len(node.children) for name, node in snapshot.root.children.items()
              if hasattr(node, "children")}
    imports: dict[str, int] = {}
    for record in gateway.imports.list():
        imports[record.state.value] = imports.get(record.state.value, 0) + 1
    return {**stats_figures(gateway_ref), "sync": gateway.library.sync_stats(), "imports": imports,
            "library": {"torrents": len(snapshot.torrents), "groups": groups, "bad": len(snapshot.bad)}}
