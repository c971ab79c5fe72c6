#!/usr/bin/env python3
"""How the chunk cache's writes cost: through the page cache, or past it (O_DIRECT).

Writes ``--files`` new files of ``--mib`` MiB each in 8 MiB chunks, as the chunk cache
writes a stream's read-ahead, once through the page cache (``os.pwrite``) and once with
``fs.chunkwrite.ChunkWriter`` (O_DIRECT through a reused bounce buffer), alternating, and
prints MiB/s and the CPU seconds of this process per file. Files are kept until the end, as
a cache keeps them, so every buffered write takes fresh page-cache pages.

    .venv/bin/python scripts/bench_chunkwrite.py [--dir /var/cache/decypharr] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fs.chunkwrite import ChunkWriter  # noqa: E402

CHUNK = 8 << 20


def write_file(path: Path, size: int, data: memoryview, writer: ChunkWriter | None) -> tuple[float, float]:
    """(seconds, CPU seconds) to write ``size`` bytes of ``data`` chunk by chunk into a new file."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.ftruncate(fd, size)
    direct_fd = writer.open_direct(str(path)) if writer is not None else -1
    started, cpu = time.perf_counter(), time.process_time()
    try:
        for offset in range(0, size, CHUNK):
            if writer is not None:
                writer.write(fd, direct_fd, data, offset)
            else:
                os.pwrite(fd, data, offset)
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        if direct_fd >= 0:
            os.close(direct_fd)
        os.close(fd)


def run(directory: str, files: int, mib: int) -> dict[str, Any]:
    data = memoryview(os.urandom(CHUNK))
    writer = ChunkWriter(CHUNK, durable=False)
    seconds: dict[str, list[float]] = {"page cache": [], "O_DIRECT": []}
    cpu: dict[str, list[float]] = {"page cache": [], "O_DIRECT": []}
    with tempfile.TemporaryDirectory(dir=directory, prefix="bench-chunkwrite-") as tmp:
        for i in range(files):
            for kind, how in (("page cache", None), ("O_DIRECT", writer)):
                took, used = write_file(Path(tmp) / f"{kind[0]}{i}.data", mib << 20, data, how)
                seconds[kind].append(took)
                cpu[kind].append(used)
    writer.close()
    return {"dir": directory, "files": files, "mib": mib, "direct_used": writer.direct,
            **{kind: {"mib_s_median": round(mib / statistics.median(seconds[kind]), 1),
                      "cpu_s_median": round(statistics.median(cpu[kind]), 3)} for kind in seconds}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", default=tempfile.gettempdir(), help="where to write (the cache_dir's filesystem)")
    p.add_argument("--files", type=int, default=16)
    p.add_argument("--mib", type=int, default=256)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    res = run(args.dir, args.files, args.mib)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{args.files} files x {args.mib} MiB in 8 MiB chunks under {args.dir} (O_DIRECT taken: {res['direct_used']})")
    for kind in ("page cache", "O_DIRECT"):
        print(f"  {kind:10s}  {res[kind]['mib_s_median']:8.1f} MiB/s   {res[kind]['cpu_s_median']:.3f} CPU s per file")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
