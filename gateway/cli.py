"""Command line: ``decypharr [--config DIR] [--demo] [--bind ADDR] [--port N] [--log-level LEVEL]``.

With no configuration anywhere it runs the demo: the built-in provider
emulator with a sample library, and the gateway against it.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import secrets
import signal
import sys
import tempfile
import threading
from typing import TYPE_CHECKING, Any

from gateway import __version__
from gateway.config import LOG_LEVELS, PROVIDERS, Config, config_path, load_config, parse_config
from gateway.errors import ConfigError, GatewayError
from gateway.log import configure_logging, register_secret

if TYPE_CHECKING:
    from gateway.auth import Auth

log = logging.getLogger("gateway")

DEMO_TOKEN = "demo-token"
DEMO_USER = "demo"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="decypharr", description=__doc__.splitlines()[0])
    parser.add_argument("--config", metavar="DIR", help="config directory (default $DECYPHARR_CONFIG_DIR or ~/.decypharr)")
    parser.add_argument("--demo", action="store_true", help="serve a built-in emulated provider with a sample library")
    parser.add_argument("--demo-providers", metavar="LIST", default=os.environ.get("DECYPHARR_DEMO_PROVIDERS", ""),
                        help=f"demo accounts: 'all', or a comma list of {', '.join(PROVIDERS)} "
                             f"(default {PROVIDERS[0]})")
    parser.add_argument("--bind", metavar="ADDR", help="listen address (overrides bind_address)")
    parser.add_argument("--port", type=int, metavar="N", help="listen port (overrides port)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, help="log level (overrides log_level)")
    parser.add_argument("--version", action="version", version=f"decypharr {__version__}")
    return parser.parse_args(argv)


def _config_dir(args: argparse.Namespace) -> tuple[str, bool]:
    """(directory, demo?) — demo when asked, or when no configuration exists anywhere."""
    if args.demo:
        return args.config or tempfile.mkdtemp(prefix="decypharr-demo-"), True
    chosen = args.config or os.environ.get("DECYPHARR_CONFIG_DIR") or os.path.expanduser("~/.decypharr")
    explicit = bool(args.config or os.environ.get("DECYPHARR_CONFIG_DIR"))
    if not explicit and not config_path(chosen).exists():
        return tempfile.mkdtemp(prefix="decypharr-demo-"), True
    return chosen, False


def _overrides(config: Config, args: argparse.Namespace) -> Config:
    changes: dict[str, Any] = {}
    if args.bind:
        changes["bind_address"] = args.bind
    if args.port is not None:
        if not 0 <= args.port <= 65535:
            raise ConfigError("--port", "must be between 0 and 65535")
        changes["port"] = args.port
    if args.log_level:
        changes["log_level"] = args.log_level
    return dataclasses.replace(config, **changes)


def demo_providers(text: str) -> tuple[str, ...]:
    """``--demo-providers``: 'all', or a comma list of provider names (default Real-Debrid only)."""
    if text.strip().lower() == "all":
        return PROVIDERS
    chosen = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip())) or ("realdebrid",)
    unknown = [p for p in chosen if p not in PROVIDERS]
    if unknown:
        raise ConfigError("--demo-providers", f"unknown provider(s) {', '.join(unknown)}; use {', '.join(PROVIDERS)}")
    return chosen


def demo_token(kind: str) -> str:
    return DEMO_TOKEN if kind == "realdebrid" else f"{DEMO_TOKEN}-{kind}"


def _demo_config(config_dir: str, emulator: Any, kinds: tuple[str, ...], usenet: Any = None) -> Config:
    raw: dict[str, Any] = {
        "bind_address": "127.0.0.1", "use_auth": False, "categories": ["sonarr", "radarr"],
        "default_download_action": "none",   # no mount in the demo: a symlink would have nothing to point at
        "debrids": [{"name": kind, "provider": kind, "api_key": demo_token(kind), "api_url": emulator.api_url(kind),
                     "torrents_refresh_interval": "30s", "rate_limit": "off"} for kind in kinds]}
    if usenet is not None:   # the emulated NNTP server with its sample release (contract §8)
        host, port = usenet.server.address
        raw["usenet"] = {"providers": [{"name": "emulated-usenet", "host": host, "port": port,
                                        "username": usenet.username, "password": usenet.password,
                                        "max_connections": 10}]}
    return parse_config(raw, config_dir)


def _start_demo_usenet(config_dir: str) -> Any:
    """An emulated usenet server holding a sample release; its NZB is written to the config
    folder, so a newcomer can add it from the UI (Add) and play it."""
    from emulators.usenet.sample import sample_release

    demo = sample_release()
    os.makedirs(config_dir, exist_ok=True)
    with open(os.path.join(config_dir, demo.nzb_name), "wb") as handle:
        handle.write(demo.nzb)
    return demo


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from gateway.server import limit_malloc_arenas
    limit_malloc_arenas()   # before any thread starts: arenas made earlier stay
    try:
        config_dir, demo = _config_dir(args)
        emulator = usenet = None
        if demo:
            kinds = demo_providers(args.demo_providers)
            emulator = _start_demo_emulator(kinds)
            usenet = _start_demo_usenet(config_dir)
            config = _demo_config(config_dir, emulator, kinds, usenet)
        else:
            config = load_config(config_dir)
        config = _overrides(config, args)
    except ConfigError as exc:
        print(f"decypharr: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, os.path.join(config.config_dir, "logs"))
    try:
        return _serve(config, emulator, usenet)
    except (GatewayError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 1


def _start_demo_emulator(kinds: tuple[str, ...]) -> Any:
    """Every demo account holds the sample library (one folder each: the others are its
    fallbacks) plus one torrent of its own. The emulators are not part of the product (not in
    the wheel or the image): the demo runs from a source checkout."""
    try:
        from emulators.sample import provider_extra, sample_library
        from emulators.server import KEYS, Emulator
    except ImportError as exc:
        raise ConfigError("--demo", "needs a source checkout (scripts/run): the emulators are not installed") from exc

    emulator = Emulator(rate_limit=False).start()
    for kind in kinds:
        emulator.world.add_account(demo_token(kind), provider=KEYS[kind])
        extra = provider_extra(kind) if len(kinds) > 1 else []
        emulator.world.seed_library(demo_token(kind), sample_library() + extra)
    return emulator


def _demo_user(auth: Auth) -> str:
    """The demo skips the setup page: its accounts are configured already, and a newcomer
    asked for a debrid key would not know to press Skip. It creates the one user at once
    (login is off in the demo; the user is for turning ``use_auth`` on) and says so."""
    if auth.has_user():   # --demo --config DIR, run before
        return f"user {auth.username()!r} from an earlier run"
    password = secrets.token_urlsafe(9)
    register_secret(password)   # printed once on the console, never in a log line
    auth.setup(DEMO_USER, password)
    return f"user {DEMO_USER!r}, password {password!r} if you turn use_auth on"


def _serve(config: Config, emulator: Any, usenet: Any = None) -> int:
    from gateway.app import build
    from gateway.server import tune_interpreter

    stop = threading.Event()
    # Installed before the FUSE mount starts: libfuse only takes signals still at their
    # default, and its SIGHUP handler would end the mount while the gateway runs on.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    tune_interpreter()
    gateway = build(config).start()
    user = _demo_user(gateway.auth) if emulator is not None else ""
    host = "127.0.0.1" if config.bind_address in ("0.0.0.0", "::", "") else config.bind_address
    base = f"http://{host}:{gateway.port}{config.prefix}"
    print(f"decypharr {__version__} serving on {base}/", flush=True)
    if emulator is not None:
        names = ", ".join(d.provider for d in config.debrids)
        print(f"  demo mode: emulated {names} at {emulator.origin} (config in {config.config_dir})", flush=True)
        print(f"  UI:      {base}/ opens on the dashboard, no login ({user})", flush=True)
    if usenet is not None:
        nzb = os.path.join(config.config_dir, usenet.nzb_name)
        print(f"  usenet:  emulated NNTP server at {usenet.server.host}:{usenet.server.port}; add {nzb}", flush=True)
    print(f"  WebDAV:  {base}/webdav/\n  browse:  {base}/api/browse/\n  qBit:    {base}/api/v2/", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        log.info("stopping")
        gateway.stop()
        if emulator is not None:
            emulator.stop()
        if usenet is not None:
            usenet.server.stop()
    return 0
