"""Pieces the benchmark scripts share: the emulator subprocess, loopback helpers and the report.

Imported by ``scripts/bench_*.py`` as ``benchkit``: ``python scripts/bench_x.py`` puts
``scripts/`` first on ``sys.path``, so no path set-up is needed here. Nothing in this module
imports the gateway, so it loads before a script adds the repository root to ``sys.path``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import IO, Any

import requests

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
HTTP_TIMEOUT = (10.0, 120.0)

Row = tuple[str, str, str, str]


# ------------------------------------------------------------------ process and loopback

def make_note(tag: str) -> Callable[[str], None]:
    """A ``note(msg)`` that prints ``[tag HH:MM:SS] msg`` to stderr."""
    def note(msg: str) -> None:
        print(f"[{tag} {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
    return note


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False   # loopback only: never a proxy from the environment
    return session


def rss_mb(pid: int | str = "self", digits: int | None = 1) -> float:
    """The current RSS of process ``pid`` (this one by default) in MiB, from /proc/<pid>/status;
    rounded to ``digits`` (None: not rounded)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                mib = int(line.split()[1]) / 1024.0
                return mib if digits is None else round(mib, digits)
    return float("nan")


def reexec_with_malloc_arena_max() -> None:
    """Re-execute this script with ``MALLOC_ARENA_MAX=2``, as ``scripts/run`` starts the gateway."""
    if "MALLOC_ARENA_MAX" not in os.environ:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_ARENA_MAX": "2"})


def release_cheroot_stats(before: Collection[str] = ()) -> bool:
    """Drop cheroot's entries in logging.statistics (except ``before``); they keep a stopped gateway alive."""
    stats = getattr(logging, "statistics", None)
    if not isinstance(stats, dict):
        return False
    added = [k for k in stats if k not in before and str(k).startswith("Cheroot HTTPServer")]
    for key in added:
        del stats[key]
    return bool(added)


# ------------------------------------------------------------------ emulator

class EmulatorProcess:
    """``python -m emulators`` in a subprocess, with one token; output to ``log`` or a temp file."""

    def __init__(self, token: str, *extra: str, log: IO[bytes] | None = None,
                 timeout: tuple[float, float] = HTTP_TIMEOUT) -> None:
        self.token = token
        self.timeout = timeout
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self._log = log if log is not None else tempfile.TemporaryFile()  # noqa: SIM115 -- closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulators", "--port", str(self.port), "--token", token, *extra],
            cwd=str(ROOT), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.session = new_session()

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {self.proc.returncode}: {self.output()}")
            with contextlib.suppress(requests.RequestException):
                if self.session.get(self.origin + "/__emu/state", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)   # polling a subprocess that is starting
        raise RuntimeError(f"emulator not ready after {timeout:.0f}s: {self.output()}")

    def seed(self, count: int, make: Callable[[int], dict[str, Any]], batch: int) -> None:
        """Seed torrents ``make(0)`` .. ``make(count - 1)``, ``batch`` per request, made in order."""
        for start in range(0, count, batch):
            torrents = [make(i) for i in range(start, min(count, start + batch))]
            r = self.session.post(self.origin + "/__emu/library", json={"token": self.token, "torrents": torrents},
                                  timeout=self.timeout)
            r.raise_for_status()
            if len(r.json()["ids"]) != len(torrents):
                raise RuntimeError("emulator did not seed the whole batch")

    def set_knobs(self, **knobs: Any) -> dict[str, Any]:
        r = self.session.post(self.origin + "/__emu/knobs", json=knobs, timeout=self.timeout)
        r.raise_for_status()
        return dict(r.json())

    def log_entries(self, **params: Any) -> list[dict[str, Any]]:
        r = self.session.get(self.origin + "/__emu/log", params=params, timeout=self.timeout)
        r.raise_for_status()
        return list(r.json()["entries"])

    def stop(self) -> None:
        self.session.close()
        end_process(self.proc, 10)
        self._log.close()


def end_process(proc: subprocess.Popen[Any], grace: float) -> None:
    """Ask a child to end (SIGTERM), then kill it when it has not within ``grace`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def shut_down(session: requests.Session, emu: EmulatorProcess, tmp: tempfile.TemporaryDirectory[str]) -> None:
    """The end of a run: the client session, the emulator, then the temporary directory."""
    session.close()
    emu.stop()
    with contextlib.suppress(Exception):
        tmp.cleanup()


# ------------------------------------------------------------------ report

def verdict(ok: bool, missed: str = "MISSED") -> str:
    return "met" if ok else missed


def table(body: Sequence[Row]) -> str:
    """A plain-text table of ``metric / value / target / verdict`` rows."""
    head = ("metric", "value", "target", "")
    widths = [max(len(head[i]), *(len(r[i]) for r in body)) for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in body]
    return "\n".join(lines)


def markdown_table(body: Sequence[Row]) -> list[str]:
    lines = ["| measure | result | target | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in body]
    return lines


def machine() -> str:
    return (f"{os.cpu_count()} CPUs, {platform.system().lower()}, Python {platform.python_version()}, "
            f"{dt.date.today().isoformat()}")


def markdown_section(title: str, intro: str, body: Sequence[Row], footer: str) -> str:
    return "\n".join([title, "", intro, "", *markdown_table(body), "", footer, ""])


def write_docs(title: str, text: str, docs: Path = DOCS) -> None:
    """Replace (or add) the section ``title`` of ``docs``, leaving every other section alone."""
    doc = docs.read_text(encoding="utf-8") if docs.exists() else "# Benchmarks\n"
    start = doc.find(title)
    if start < 0:
        doc = doc.rstrip("\n") + "\n\n" + text
    else:
        end = doc.find("\n## ", start + len(title))
        doc = doc[:start] + text + ("\n" + doc[end + 1:] if end >= 0 else "")
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(doc, encoding="utf-8")


def add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--write-docs", action="store_true", help=f"write the section in {DOCS.relative_to(ROOT)}")


def publish(res: dict[str, Any], body: Sequence[Row], command: str, args: argparse.Namespace,
            title: str, section: Callable[[], str], note: Callable[[str], None]) -> int:
    """Print the table (or JSON with ``--json``); with ``--write-docs`` also write ``section()`` under ``title``."""
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(table(body))
        print(f"\ncommand: {command}  (whole run {res['run_s']} s)")
    if args.write_docs:
        write_docs(title, section())
        note(f"wrote the section in {DOCS}")
    return 0


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100.0 * len(ordered))) - 1]


def side_by_side(fns: dict[str, Callable[[], float]], runs: int, rounds: int = 5) -> dict[str, list[float]]:
    """``runs`` timings of each function, taken in ``rounds`` interleaved rounds (each warmed by one
    untimed call), so a slow minute of a shared machine lands on every side alike."""
    out: dict[str, list[float]] = {name: [] for name in fns}
    per_round = max(1, runs // rounds)
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()
            out[name].extend(fn() for _ in range(per_round))
    return out


class LeanClient:
    """One keep-alive connection and a hand-written HTTP/1.1 exchange: the client's own cost is a
    few microseconds, so the time measured is the server's (``requests`` adds ~0.6 ms a request,
    which hides a server's share of a sub-millisecond answer)."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self._path = parts.path or "/"
        self._host = f"{parts.hostname}:{parts.port}"
        self._sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(self, method: str, headers: dict[str, str]) -> tuple[float, int, bytes]:
        """(seconds, status, body) of one request with an empty body."""
        head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": self._host, "Content-Length": "0", **headers}.items())
        started = time.perf_counter()
        self._sock.sendall(f"{method} {self._path} HTTP/1.1\r\n{head}\r\n".encode("latin-1"))
        status, body = self._response()
        return time.perf_counter() - started, status, body

    def _response(self) -> tuple[int, bytes]:
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self._recv()
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
        if b"content-length" in fields:
            while len(body) < int(fields[b"content-length"]):
                body += self._recv()
        else:   # chunked (rclone): read to the last chunk, then drop the framing
            while not body.endswith(b"0\r\n\r\n"):
                body += self._recv()
            body = _unchunk(body)
        return int(lines[0].split()[1]), body

    def _recv(self) -> bytes:
        data = self._sock.recv(1 << 16)
        if not data:
            raise ConnectionError("the server closed the connection")
        return data

    def close(self) -> None:
        self._sock.close()


def _unchunk(body: bytes) -> bytes:
    out, pos = [], 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(body[end + 2:end + 2 + size])
        pos = end + 2 + size + 2
