"""The scan: each media file of each *arr, judged healthy, broken or unknown.

What can be judged on this machine is judged without a provider call: a file
or a symlink target that is missing, a target in the gateway's own tree that
the library no longer has, a torrent the library knows is dead. What is left
costs one provider call per torrent (never per file), in the budget's
background lane: a link for one of its files, then a one-byte read from the
CDN. A check that fails for a transient reason (timeout, 429, 5xx, an *arr
that does not answer) makes the file *unknown*, never broken: unknown items
are shown with their reason and checked again at the next scan, and nothing
is ever deleted for them.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from gateway import errors
from gateway.arr.client import ArrClient, ArrTarget
from gateway.arr.models import MediaFile
from gateway.config import Config
from gateway.library.library import Library
from gateway.library.links import LinkResolver
from gateway.library.snapshot import FileNode, FileRef, MemberRef, Snapshot
from gateway.models import Torrent
from gateway.providers.budget import Lane, lane
from gateway.providers.cdn import CdnClient
from gateway.repair.jobs import Item

log = logging.getLogger(__name__)

State = Literal["healthy", "broken", "unknown", "probe"]
Probe = Callable[[FileRef], tuple[State, str]]
DOWNLOAD_ROUTE = "/api/browse/download/"


@dataclass(frozen=True)
class Verdict:
    state: State
    reason: str = ""
    torrent: Torrent | None = None
    ref: FileRef | None = None
    torrent_file: str = ""


HEALTHY = Verdict("healthy")


@dataclass(frozen=True)
class ScanResult:
    broken: list[Item]
    unknown: list[Item]
    counts: dict[str, int]


class Scanner:
    def __init__(self, config: Config, library: Library, links: LinkResolver, cdn: CdnClient,
                 arr: ArrClient, probes: dict[str, Probe] | None = None) -> None:
        self._config = config
        self._probes = probes or {}
        self._library = library
        self._links = links
        self._cdn = cdn
        self._arr = arr
        self._mount = os.path.normpath(config.mount.mount_path) if config.mount.mount_path else ""

    # ------------------------------------------------------------------ whole scan

    def scan(self, targets: list[ArrTarget], media_ids: tuple[int, ...] = ()) -> ScanResult:
        found: list[tuple[MediaFile, Verdict]] = []
        unknown: list[Item] = []
        for target in targets:
            try:
                kind = self._arr.kind_of(target)
                files = self._arr.media_files(target, kind, media_ids or None)
            except errors.ProviderError as exc:
                log.warning("repair: %s: cannot list its media: %s", target.name, exc)
                unknown.append(Item(arr=target.name, media_id=0, title="", file_path="", torrent_hash="",
                                    reason=f"the *arr did not answer: {exc}"))
                continue
            snapshot = self._library.snapshot()
            found += [(f, self.judge(f.path, snapshot)) for f in files]
        found = self._probe_all(found)
        broken = [self._item(f, v, targets) for f, v in found if v.state == "broken"]
        unknown += [self._item(f, v, targets, lookup=False) for f, v in found if v.state == "unknown"]
        counts = {"files": len(found), "healthy": sum(v.state == "healthy" for _, v in found),
                  "broken": len(broken), "unknown": len(unknown)}
        return ScanResult(broken, unknown, counts)

    def _item(self, f: MediaFile, v: Verdict, targets: list[ArrTarget], lookup: bool = True) -> Item:
        torrent = v.torrent
        infohash = torrent.infohash if torrent else (self._grabbed_hash(f, targets) if lookup else "")
        return Item(arr=f.arr, media_id=f.media_id, title=f.title, file_path=f.path, torrent_hash=infohash,
                    reason=v.reason, kind=f.kind, file_id=f.file_id, episode_ids=f.episode_ids,
                    account=torrent.provider if torrent else "", torrent_id=torrent.id if torrent else "",
                    torrent_file=v.torrent_file)

    def _grabbed_hash(self, f: MediaFile, targets: list[ArrTarget]) -> str:
        """The infohash the *arr grabbed this file with, when the library no longer knows it."""
        target = next((t for t in targets if t.name == f.arr), None)
        if target is None:
            return ""
        try:
            grabs = self._arr.grabs(target, f)
        except errors.ProviderError:
            return ""
        hashes = [g.download_id for g in grabs if len(g.download_id) == 40]
        return hashes[0] if hashes else ""

    # ------------------------------------------------------------- local judgement

    def judge(self, path: str, snapshot: Snapshot) -> Verdict:
        """What this machine can tell about one media file, without a provider call."""
        if os.path.islink(path):
            target = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
            parts = self._in_tree(target)
            if parts is None:
                return HEALTHY if os.path.exists(path) else Verdict("broken", "the symlink's target is missing")
            return self._in_library(parts, snapshot)
        if os.path.isfile(path):
            parts = self._strm_target(path) if path.endswith(".strm") else None
            return HEALTHY if parts is None else self._in_library(parts, snapshot)
        if os.path.isdir(os.path.dirname(path)):
            return Verdict("broken", "the file is missing")
        # Not even its folder: this machine may not see the *arr's paths at all.
        return Verdict("unknown", "its folder is not visible to the gateway (check the shared paths)")

    def _in_tree(self, target: str) -> list[str] | None:
        """The tree path of a symlink target inside the gateway's mount, else None."""
        if not self._mount or not target.startswith(self._mount + os.sep):
            return None
        return [p for p in target[len(self._mount) + 1:].split(os.sep) if p]

    @staticmethod
    def _strm_target(path: str) -> list[str] | None:
        try:
            with open(path, encoding="utf-8") as handle:
                url = handle.readline().strip()
        except (OSError, UnicodeDecodeError):
            return None
        route = urllib.parse.urlsplit(url).path
        at = route.find(DOWNLOAD_ROUTE)
        if at < 0:
            return None
        rest = [urllib.parse.unquote(p) for p in route[at + len(DOWNLOAD_ROUTE):].split("/") if p]
        return ["__all__", *rest] if len(rest) >= 2 else None

    @staticmethod
    def _in_library(parts: list[str], snapshot: Snapshot) -> Verdict:
        node = snapshot.resolve(parts)
        if node is None:
            return Verdict("broken", "its torrent is no longer in the library")
        if not isinstance(node, FileNode):
            return HEALTHY
        torrent = snapshot.torrents.get((node.ref.provider, node.ref.torrent_id))
        if torrent is None:
            return Verdict("broken", "its torrent is no longer in the library")
        file = snapshot.file(node.ref)
        inner = file[1].path if file else ""
        if torrent.status.failed or torrent.key in snapshot.bad:
            why = torrent.status_detail or torrent.status.value
            return Verdict("broken", f"the torrent is {why} at {torrent.provider}", torrent, node.ref, inner)
        return Verdict("probe", "", torrent, node.ref, inner)

    # ------------------------------------------------------------- provider probes

    def _probe_all(self, found: list[tuple[MediaFile, Verdict]]) -> list[tuple[MediaFile, Verdict]]:
        """One probe per torrent, shared by every file of it; ``repair.workers`` at a time
        (the account's budget still decides how many calls a minute). A pack whose probe fails
        has each of its other files probed too: one lost episode must not condemn the rest."""
        refs: dict[tuple[str, str], FileRef] = {}
        for _, verdict in found:
            if verdict.state == "probe" and verdict.torrent is not None and verdict.ref is not None:
                refs.setdefault(verdict.torrent.key, verdict.ref)
        with ThreadPoolExecutor(max(1, self._config.repair.workers), thread_name_prefix="repair-probe") as pool:
            outcome = dict(zip(refs, pool.map(self._probe, refs.values()), strict=True))
            failed = {key for key, (state, _) in outcome.items() if state == "broken"}
            others = list({v.ref: None for _, v in found if v.state == "probe" and v.torrent is not None
                           and v.torrent.key in failed and v.ref is not None and v.ref != refs[v.torrent.key]})
            per_file = dict(zip(others, pool.map(self._probe, others), strict=True))
        out = []
        for f, v in found:
            if v.state == "probe" and v.torrent is not None:
                result = per_file.get(v.ref) if v.ref is not None else None
                state, reason = result or outcome[v.torrent.key]
                v = Verdict(state, reason, v.torrent, v.ref, v.torrent_file)
            out.append((f, v))
        return out

    def _probe(self, ref: FileRef) -> tuple[State, str]:
        """A usenet file has its own probe (a STAT sample of its articles); a file inside archive
        volumes is healthy only when every volume is."""
        local = self._probes.get(ref.provider)
        if local is not None:
            with lane(Lane.BACKGROUND):
                return local(ref)
        if isinstance(ref, MemberRef):
            for volume in dict.fromkeys(e.volume for e in ref.extents):
                state, reason = self._probe_file(FileRef(ref.provider, ref.torrent_id, volume))
                if state != "healthy":
                    return state, reason
            return "healthy", ""
        return self._probe_file(ref)

    def _probe_file(self, ref: FileRef) -> tuple[State, str]:
        """A link for the file, then its first byte from the CDN (a refused link is made again once)."""
        with lane(Lane.BACKGROUND):
            for _ in range(2):
                try:
                    link = self._links.resolve(ref)
                except FileNotFoundError:
                    return "broken", "its torrent is no longer in the library"
                except errors.FileGone as exc:
                    return "broken", f"its files are gone at the provider ({exc.code or exc})"
                except errors.NotFound:
                    return "broken", "the torrent is gone at the provider"
                except errors.ProviderError as exc:
                    return "unknown", f"the provider check failed: {exc}"
                try:
                    stream = self._cdn.open(link.url, 0, 0)
                    stream.read(1)
                    stream.close()
                    return "healthy", ""
                except errors.LinkExpired:
                    self._links.invalidate(ref, link)
                except errors.ProviderError as exc:
                    return "unknown", f"the CDN check failed: {exc}"
        return "broken", "the provider's CDN refuses fresh links to it"
