"""``python -m emulators.usenet``: serve the sample release and write its NZB."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from .sample import sample_release


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emulators.usenet", description="NNTP emulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1119)
    p.add_argument("--nzb", type=Path, default=None, help="write the sample NZB here")
    args = p.parse_args(argv)
    demo = sample_release(host=args.host, port=args.port)
    nzb_path = args.nzb or Path(demo.nzb_name)
    nzb_path.write_bytes(demo.nzb)
    print(f"NNTP on {args.host}:{demo.server.port} user={demo.username} password={demo.password}; "
          f"NZB written to {nzb_path}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    demo.server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
