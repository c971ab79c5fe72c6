"""Importing an NZB from the user's own usenet servers: a layout, not a download.

``UsenetImporter.run`` turns an NZB into a stored ``Layout`` and the
``Torrent`` the library shows, reading at most a handful of articles per
file plus the availability sample (contract §8):

1. the first article of every posted file (its yEnc header: real name and
   size, the part size); names that are not a known extension are matched to
   the release's PAR2 index by the MD5 of their first 16 KiB;
2. each served file's offset table: equal parts but the last, checked against
   its last article, or every article's header when that check fails;
3. stored archive sets (RAR4/RAR5, 7z Copy) mapped to the files inside them
   (``gateway.archives``) through volumes that read articles, so a header
   read costs one article, and most of them were read in step 1;
4. STAT of the first, the last and ``import_availability_sample_percent``%
   of the articles behind every shown file;
5. the layout stored in one transaction.

``Held`` (servers down, login refused) keeps the job queued; ``Refused``
(articles missing everywhere, compressed or encrypted archives, gaps in a
media file, an import that outlasts ``processing_timeout``) fails it with the
reason. The timeout bounds one attempt, checked before and after every
article read and between steps: a held attempt ends at once and the next one
starts a fresh clock, so servers that are down never fail a job (contract §8).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from gateway import errors
from gateway.clock import Clock
from gateway.config import DEFAULT_FILE_TYPES, USENET, Config
from gateway.imports import par2
from gateway.imports.nzb import NzbFile, parse_nzb
from gateway.imports.selection import wanted
from gateway.imports.usenet_archives import NotStreamable, map_archives
from gateway.library.nzblayout import Layout, LayoutStore, Member, Source
from gateway.library.nzbstream import ArticleClient, sample
from gateway.models import RemoteFile, Torrent, TorrentStatus
from gateway.providers.budget import Lane

log = logging.getLogger(__name__)

PARALLEL = 16  # article reads one import runs at once (the client's pools cap connections; a reader still goes first)
OTHER_TYPES = ("par2", "nfo", "sfv", "nzb", "txt", "jpg", "jpeg", "png", "url", "md5", "srr", "7z", "zip", "rar")
_VOLUME = re.compile(r"\.(rar|r\d{2,3}|s\d{2}|\d{3}|7z(\.\d{3})?|part\d+\.rar)$", re.IGNORECASE)


class Held(Exception):
    """The servers cannot answer now (down, login refused): try again later, never fail."""


class Refused(Exception):
    """The job cannot be streamed: fail it with this reason."""


@dataclass
class Posted:
    """One posted file while it is being imported."""

    entry: NzbFile
    name: str
    size: int = 0
    part_size: int = 0
    starts: tuple[int, ...] = ()
    head: bytes = b""     # the first article's data

    def source(self) -> Source:
        return Source(self.name, self.size, self.part_size, self.entry.message_ids, self.starts)


class Deadline:
    """``processing_timeout`` for one import attempt."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self.seconds = seconds
        self._end = clock.monotonic() + seconds

    def check(self) -> None:
        if self._clock.monotonic() > self._end:
            raise Refused(f"the import took longer than processing_timeout ({self.seconds:g} s)")


class Articles:
    """Article reads of one import: parallel, each article fetched once, errors mapped."""

    def __init__(self, client: ArticleClient, deadline: Deadline) -> None:
        self._client = client
        self.deadline = deadline
        self._lock = threading.Lock()
        self._parts: dict[str, Any] = {}
        self.reads = 0

    def part(self, message_id: str) -> Any:
        with self._lock:
            cached = self._parts.get(message_id)
        if cached is not None:
            return cached
        self.deadline.check()
        try:
            part = self._client.body(message_id, lane=Lane.IMPORTS)
        except errors.NotFound:
            raise Refused(f"article <{message_id}> is missing on every server") from None
        except errors.ProviderError as exc:   # UsenetUnavailable, a refused login
            raise Held(f"usenet servers unavailable: {exc}") from None
        with self._lock:
            self._parts[message_id] = part
            self.reads += 1
        self.deadline.check()
        return part

    def data(self, message_id: str) -> bytes:
        return bytes(self.part(message_id).data)


def run_parallel(jobs: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run ``jobs`` on a few threads; the first Held or Refused (in job order) is raised."""
    if len(jobs) <= 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(min(PARALLEL, len(jobs)), thread_name_prefix="usenet-import") as pool:
        futures = [pool.submit(job) for job in jobs]
        return [f.result() for f in futures]


class UsenetImporter:
    def __init__(self, config: Config, client: ArticleClient, layouts: LayoutStore, clock: Clock) -> None:
        self._config = config
        self._client = client
        self._layouts = layouts
        self._clock = clock

    def run(self, job: str, name: str, nzb: bytes) -> Torrent:
        deadline = Deadline(self._clock, self._config.usenet.processing_timeout)
        meta = parse_nzb(nzb)
        articles = Articles(self._client, deadline)
        posted = [Posted(e, e.shown_name) for e in meta.entries if e.message_ids]
        run_parallel([lambda p=p: self._first(articles, p) for p in posted])   # type: ignore[misc]
        self._deobfuscate(articles, posted)
        deadline.check()
        served = [p for p in posted if _ext(p.name) != "par2"]
        for p in served:
            if p.entry.problem and (_is_volume(p.name) or self._media(p.name, p.size)):
                raise Refused(f"{p.name}: {p.entry.problem}")
        run_parallel([lambda p=p: self._offsets(articles, p) for p in served   # type: ignore[misc]
                      if not p.entry.problem])
        sources = [p.source() for p in served if not p.entry.problem]
        members = self._members(articles, sources, meta.password)
        deadline.check()
        if not members:
            raise Refused("no file of the release matches allowed_file_types, min_file_size and max_file_size")
        self._check_available(deadline, sources, members)
        deadline.check()
        layout = Layout(job, tuple(sources), tuple(members))
        self._layouts.save(layout)
        log.info("usenet job %s: %d files from %d posted files, %d articles read", job, len(members),
                 len(posted), articles.reads)
        return _torrent(job, name, members, self._clock.now())

    # ------------------------------------------------------------- steps

    def _first(self, articles: Articles, posted: Posted) -> None:
        part = articles.part(posted.entry.message_ids[0])
        posted.head = bytes(part.data)
        posted.size = int(part.file_size)
        posted.part_size = int(part.end) - int(part.begin)
        header_name = str(getattr(part, "name", "") or "")
        if _known(header_name) or not _known(posted.name):
            posted.name = header_name or posted.name

    def _deobfuscate(self, articles: Articles, posted: list[Posted]) -> None:
        """Names that are no known extension come from the PAR2 index (MD5 of the first 16 KiB)."""
        unknown = [p for p in posted if not _known(p.name)]
        indexes = sorted((p for p in posted if _ext(p.name) == "par2"), key=lambda p: p.size)
        if not unknown or not indexes:
            return
        index = indexes[0]   # the index file: the smallest .par2, usually one article
        data = b"".join(articles.data(mid) for mid in index.entry.message_ids[:8])
        by_digest = {(d.md5_16k, d.size): d.name for d in par2.file_descs(data)}
        taken = {p.name for p in posted}
        for p in unknown:
            real = by_digest.get((par2.head_digest(p.head), p.size))
            if real and real not in taken:
                log.info("usenet: %s is %s (PAR2 index)", p.name, real)
                p.name = real
                taken.add(real)

    def _offsets(self, articles: Articles, posted: Posted) -> None:
        """Equal parts but the last, checked against the last article; else every header."""
        count = len(posted.entry.message_ids)
        if count == 1:
            if posted.part_size != posted.size:
                raise Refused(f"{posted.name}: its only article holds {posted.part_size} of {posted.size} bytes")
            return
        size, part_size = posted.size, posted.part_size
        if part_size > 0 and -(-size // part_size) == count:
            last = articles.part(posted.entry.message_ids[-1])
            if int(last.begin) == (count - 1) * part_size and int(last.end) == size:
                return
        log.info("usenet: %s has uneven parts: reading every article header", posted.name)
        parts = run_parallel([lambda m=m: articles.part(m) for m in posted.entry.message_ids])  # type: ignore[misc]
        starts = tuple(int(p.begin) for p in parts)
        ends = [int(p.end) for p in parts]
        if starts[0] != 0 or ends[-1] != size or any(e != s for e, s in zip(ends, starts[1:], strict=False)):
            raise Refused(f"{posted.name}: its articles do not cover the file end to end")
        posted.starts = starts

    def _media(self, name: str, size: int) -> bool:
        return wanted(RemoteFile(0, name, size), self._config)

    def _members(self, articles: Articles, sources: list[Source], password: str) -> list[Member]:
        """Plain media files as they are; archive sets as the media files inside them."""
        plain = [Member(s.name, s.size, ((i, 0, s.size),)) for i, s in enumerate(sources)
                 if not _is_volume(s.name)]
        try:
            inside = map_archives(sources, articles.data, password)
        except NotStreamable as exc:
            raise Refused(f"the release's archive cannot be streamed: {exc.reason}") from None
        found = plain + inside
        chosen = [m for m in found if self._media(m.path, m.size)]
        if not chosen:   # every file looked like a sample: the release's own name says "Sample"
            lenient = dataclasses.replace(self._config, allow_samples=True)
            chosen = [m for m in found if wanted(RemoteFile(0, m.path, m.size), lenient)]
        return chosen

    def _check_available(self, deadline: Deadline, sources: list[Source], members: list[Member]) -> None:
        """STAT first, last and a sample of each source behind a shown file."""
        used = sorted({source for m in members for source, _, _ in m.extents})
        percent = self._config.usenet.import_availability_sample_percent
        checks = [(sources[i], k) for i in used for k in sample(len(sources[i].ids), percent)]
        missing = [c for c, ok in zip(checks, run_parallel(
            [lambda c=c: self._stat(deadline, c[0].ids[c[1]]) for c in checks]), strict=True) if not ok]   # type: ignore[misc]
        if missing:
            source, index = missing[0]
            raise Refused(f"article {index + 1} of {source.name} is missing on every server"
                          + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))

    def _stat(self, deadline: Deadline, message_id: str) -> bool:
        deadline.check()
        try:
            return bool(self._client.stat(message_id))
        except errors.ProviderError as exc:
            raise Held(f"usenet servers unavailable: {exc}") from None


def _torrent(job: str, name: str, members: list[Member], now: float) -> Torrent:
    files = tuple(RemoteFile(i, m.path, m.size) for i, m in enumerate(members))
    return Torrent(provider=USENET, id=job, infohash=job, name=name, size=sum(m.size for m in members),
                   status=TorrentStatus.DOWNLOADED, progress=1.0, added=now, ended=now, files=files,
                   original_name=name)


def _ext(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _is_volume(name: str) -> bool:
    return bool(_VOLUME.search(name))


def _known(name: str) -> bool:
    """A name worth keeping: a known media, subtitle, archive or index extension."""
    return bool(name) and (_ext(name) in DEFAULT_FILE_TYPES or _ext(name) in OTHER_TYPES or _is_volume(name))
