"""The usenet benchmark's two helpers: the emulated NNTP server in a subprocess, and a raw reader.

``EmulatedUsenet`` starts ``python scripts/usenet_benchkit.py serve ...`` (this file): it builds
the bench releases into one ``emulators.usenet`` article store, serves them with one
``NNTPServer`` and writes their NZBs; the parent sends it one JSON command per line on stdin
(``configure``, ``stats``, ``reset``) and reads one JSON answer per line.

``RawReader`` is the yardstick: plain sockets, ``sabctools.Decoder`` for the answers, a fixed
number of logged-in connections each pulling the next article of a list. No retries, no
hedging, no cache: the least any usenet reader can do. Nothing here imports the gateway.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import sabctools

ROOT = Path(__file__).resolve().parents[1]
PART = 716_800                   # the usual article size of real posts
MiB = 1 << 20
USER, PASSWORD = "bench", "bench-nntp-pass"  # nosec: an emulator's login
BIG = "Bench.Big.Movie.2024.2160p.WEB-DL.x265-EMU"
RAR = "Bench.Rar.Movie.2024.1080p.BluRay.x264-EMU"
PROBE = "Bench.Probe.Show.S01.1080p.WEB-DL.x264-EMU"


# ----------------------------------------------------------------- the emulator side

def _releases(big_gib: float, rar_volumes: int, rar_volume_mib: float, probe_files: int, clip: Path,
              out: Path) -> Any:
    sys.path.insert(0, str(ROOT))
    from emulators.archives import write_rar
    from emulators.usenet import ArticleStore
    from emulators.usenet.media import lazy_media, media_bytes
    from emulators.usenet.release import LazyFile, build_release

    store = ArticleStore()
    big = build_release([lazy_media(f"{BIG}.mkv", int(big_gib * (1 << 30)))], name=BIG, store=store, par2=False)
    movie = media_bytes(RAR, int(rar_volumes * rar_volume_mib * MiB) - 4096)
    volumes = write_rar([(f"{RAR}.mkv", movie)], version=5, base=RAR, volume_data=int(rar_volume_mib * MiB))
    rar = build_release(volumes, name=RAR, store=store, par2=False)
    clip_bytes = clip.read_bytes()
    episodes = [LazyFile(f"{PROBE.replace('S01', f'S01E{e:02d}')}.mkv", len(clip_bytes),
                         lambda off, n: clip_bytes[off:off + n]) for e in range(1, probe_files + 1)]
    probe = build_release(episodes, name=PROBE, store=store, par2=False)
    for release in (big, rar, probe):
        (out / f"{release.name}.nzb").write_bytes(release.nzb)
    return store, {"volumes": len(volumes), "posted": {r.name: len(r.files) for r in (big, rar, probe)}}


def serve(argv: Sequence[str]) -> int:
    """The subprocess: build, serve, then answer commands until stdin closes."""
    big_gib, rar_volumes, rar_mib, probes, clip, out, max_conn = argv
    store, info = _releases(float(big_gib), int(rar_volumes), float(rar_mib), int(probes), Path(clip), Path(out))
    from emulators.usenet import NNTPServer
    server = NNTPServer(store, name="bench", username=USER, password=PASSWORD,
                        max_connections=int(max_conn)).start()
    # The raw reader's door: the same store and knobs on another port, so its connections and the
    # gateway's idle ones never count against each other (the cap and the counters are the gateway's).
    twin = NNTPServer(store, name="bench-raw", username=USER, password=PASSWORD,
                      max_connections=int(max_conn)).start()
    print(json.dumps({"port": server.port, "raw_port": twin.port, **info}), flush=True)
    peak = 0
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd.pop("op")
        stats = server.stats()
        peak = max(peak, stats.connections_peak)
        if op == "configure":
            server.configure(**cmd)
            twin.configure(**cmd)
            answer: dict[str, Any] = {"ok": True}
        elif op == "reset":
            server.reset_stats()
            answer = {"ok": True}
        else:
            answer = {"articles": stats.articles_served, "stat": stats.commands.get("STAT", 0),
                      "body": stats.commands.get("BODY", 0), "connections": stats.connections_current,
                      "peak": stats.connections_peak, "peak_ever": peak, "rejected": stats.rejected,
                      "bytes": stats.bytes_sent, "missing": stats.missing}
        print(json.dumps(answer), flush=True)
    server.stop()
    twin.stop()
    return 0


class EmulatedUsenet:
    """The parent's handle on the ``serve`` subprocess."""

    def __init__(self, workdir: Path, clip: Path, *, big_gib: float, rar_volumes: int, rar_volume_mib: float,
                 probe_files: int, max_connections: int) -> None:
        self.nzbs = workdir / "nzb"
        self.nzbs.mkdir(exist_ok=True)
        self._log = open(workdir / "nntp.log", "wb")  # noqa: SIM115 -- closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "serve", str(big_gib), str(rar_volumes), str(rar_volume_mib),
             str(probe_files), str(clip), str(self.nzbs), str(max_connections)],
            cwd=str(ROOT), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self._out: IO[str] = self.proc.stdout
        self._in: IO[str] = self.proc.stdin
        first = self._out.readline()
        if not first:
            raise RuntimeError(f"the NNTP emulator did not start: {(workdir / 'nntp.log').read_text()[-2000:]}")
        self.info = json.loads(first)
        self.port = int(self.info["port"])
        self.raw_port = int(self.info["raw_port"])

    def ask(self, op: str, **args: Any) -> dict[str, Any]:
        self._in.write(json.dumps({"op": op, **args}) + "\n")
        self._in.flush()
        return dict(json.loads(self._out.readline()))

    def stats(self) -> dict[str, Any]:
        return self.ask("stats")

    def nzb(self, name: str) -> bytes:
        return (self.nzbs / f"{name}.nzb").read_bytes()

    def stop(self) -> None:
        try:
            self._in.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


def segment_ids(nzb: bytes) -> list[str]:
    """The message-ids of an NZB's first file, in part order."""
    first = nzb.split(b"</file>", 1)[0].decode()
    found = re.findall(r'<segment bytes="\d+" number="(\d+)">([^<]+)</segment>', first)
    return [mid for _, mid in sorted(found, key=lambda pair: int(pair[0]))]


# ----------------------------------------------------------------- the raw reader

class _RawConn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.decoder = sabctools.Decoder(256 * 1024)
        self._answer(None, "greeting")
        self._answer(f"AUTHINFO USER {USER}", "login")
        if self._answer(f"AUTHINFO PASS {PASSWORD}", "login").status_code != 281:
            raise RuntimeError("raw reader: login refused")

    def _answer(self, command: str | None, what: str) -> Any:
        self.decoder.expect(what)
        if command is not None:
            self.sock.sendall(command.encode() + b"\r\n")
        while True:
            response = next(self.decoder, None)
            if response is not None:
                return response
            with memoryview(self.decoder) as view:
                got = self.sock.recv_into(view)
            if not got:
                raise RuntimeError("raw reader: connection closed")
            self.decoder.process(got)

    def body(self, message_id: str) -> bytes:
        response = self._answer(f"BODY <{message_id}>", "BODY")
        if response.status_code != 222 or response.data is None:
            raise RuntimeError(f"raw reader: BODY <{message_id}>: {response.status_code}")
        return bytes(response.data)

    def close(self) -> None:
        try:
            self._answer("QUIT", "QUIT")
        except (OSError, RuntimeError):
            pass
        self.sock.close()


class RawReader:
    """``connections`` logged-in connections; ``fetch(ids)`` reads those articles in parallel, in order."""

    def __init__(self, port: int, connections: int) -> None:
        self._conns = [_RawConn(port) for _ in range(connections)]

    def fetch(self, ids: Sequence[str], window: int = 0) -> int:
        """Read every article of ``ids``; returns the decoded bytes. At most ``window`` articles
        (default: twice the connections) are held ahead of the in-order consumer."""
        limit = window or 2 * len(self._conns)
        lock = threading.Condition()
        state = {"next": 0, "consumed": 0}
        done: dict[int, int] = {}
        errors: list[BaseException] = []

        def worker(conn: _RawConn) -> None:
            while True:
                with lock:
                    while state["next"] - state["consumed"] >= limit and not errors:
                        lock.wait()
                    index = state["next"]
                    if index >= len(ids) or errors:
                        return
                    state["next"] += 1
                try:
                    size = len(conn.body(ids[index]))
                except BaseException as exc:   # the consumer raises it
                    with lock:
                        errors.append(exc)
                        lock.notify_all()
                    return
                with lock:
                    done[index] = size
                    lock.notify_all()

        threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in self._conns]
        for t in threads:
            t.start()
        total = 0
        with lock:
            for index in range(len(ids)):
                while index not in done and not errors:
                    lock.wait()
                if errors:
                    raise errors[0]
                total += done.pop(index)
                state["consumed"] = index + 1
                lock.notify_all()
        for t in threads:
            t.join()
        return total

    def close(self) -> None:
        for conn in self._conns:
            conn.close()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        sys.exit(serve(sys.argv[2:]))
    sys.exit("usage: scripts/usenet_benchkit.py serve ... (started by scripts/bench_usenet.py)")
