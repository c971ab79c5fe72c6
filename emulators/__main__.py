"""``python -m emulators``: run the emulator in the foreground."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from typing import Any

from .sample import sample_library
from .server import Emulator


def _knob(text: str) -> tuple[str, Any]:
    name, _, raw = text.partition("=")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # bare strings need no quotes on the command line
    return name, value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emulators",
                                description="Real-Debrid API + CDN emulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8900)
    p.add_argument("--token", action="append", default=[],
                   help="create an account for this token (repeatable)")
    p.add_argument("--sample", action="store_true",
                   help="seed the sample library for the first token")
    p.add_argument("--advertise-origin", default=None)
    p.add_argument("--no-rate-limit", action="store_true")
    p.add_argument("--speed", type=float, default=1.0, help="virtual clock speed")
    p.add_argument("--knob", action="append", default=[], type=_knob,
                   help="NAME=VALUE (JSON value), e.g. rd_link_ttl=3600")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    emu = Emulator(args.host, args.port, rate_limit=not args.no_rate_limit,
                   knobs=dict(args.knob), advertise_origin=args.advertise_origin)
    emu.world.clock.set_speed(args.speed)
    tokens = args.token or (["demo"] if args.sample else [])
    for tok in tokens:
        emu.world.add_account(tok)
    if args.sample and tokens:
        emu.world.seed_library(tokens[0], sample_library())
    emu.start()
    print(f"emulator listening on {emu.origin}  (RD API {emu.rd_api_url}); "
          f"tokens: {', '.join(tokens) or '-'}", flush=True)
    done = threading.Event()
    # Explicit handlers: a backgrounded process may inherit SIGINT as ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        while not done.wait(1.0):
            pass
    finally:
        emu.stop()
    print("emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
