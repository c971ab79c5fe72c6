"""Post a release to an :class:`ArticleStore` and write its NZB, as a usenet poster would.

Each file is cut into ``part_size`` parts (the last one shorter), each part becomes one
yEnc article (``=ybegin part= total= line= size= name=``, ``=ypart``, ``=yend pcrc32=``)
under a deterministic message-id. Options: segments listed shuffled in the NZB, obfuscated
random names (in subjects and yEnc headers) with a PAR2 index holding the real ones.

Files are ``(name, bytes)`` pairs, or :class:`LazyFile` for sizes that should never sit in
memory (the bench's 10 GiB release): their articles are encoded each time they are served,
and their NZB ``bytes`` are an estimate, as posters' own figures are.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from .par2 import Par2File, par2_file, par2_index
from .store import ArticleStore
from .yenc import LINE_LENGTH, Engine, encode_part

PART_SIZE = 716_800
DEFAULT_GROUPS = ("alt.binaries.test",)
FIXED_DATE = 1_700_000_000   # NZB bytes stay the same run to run (the MD5 is the job key)
POSTER = "poster <poster@example.invalid>"
NZB_DOCTYPE = ('<!DOCTYPE nzb PUBLIC "-//newzBin//DTD NZB 1.1//EN" '
               '"http://www.newzbin.com/DTD/nzb/nzb-1.1.dtd">')
NZB_NS = "http://www.newzbin.com/DTD/2003/nzb"


@dataclass(frozen=True)
class LazyFile:
    """A file whose bytes ``read(offset, length)`` produces on demand."""

    name: str
    size: int
    read: Callable[[int, int], bytes]
    md5: bytes | None = None   # whole-file MD5 for the PAR2 index (computed by reading if None)


SourceFile = tuple[str, bytes] | LazyFile


@dataclass(frozen=True)
class Segment:
    number: int       # 1-based part number
    message_id: str   # without angle brackets
    bytes: int        # encoded article size (what the NZB says)
    begin: int        # 0-based offset of the part's first byte in the file
    size: int         # decoded bytes in the part


@dataclass(frozen=True)
class PostedFile:
    name: str          # the real name
    posted_name: str   # the name in the subject and yEnc headers (obfuscated or real)
    size: int
    segments: tuple[Segment, ...]
    subject: str
    poster: str = POSTER
    date: int = 0
    groups: tuple[str, ...] = DEFAULT_GROUPS

    @property
    def message_ids(self) -> list[str]:
        return [s.message_id for s in self.segments]


@dataclass
class Release:
    name: str
    files: list[PostedFile]
    store: ArticleStore
    meta: dict[str, str] = field(default_factory=dict)
    shuffle_seed: int | None = None

    def file(self, name: str) -> PostedFile:
        """By real or posted name."""
        return next(f for f in self.files if name in (f.name, f.posted_name))

    def message_ids(self) -> list[str]:
        return [mid for f in self.files for mid in f.message_ids]

    @property
    def nzb(self) -> bytes:
        return nzb_xml(self.files, {"name": self.name, **self.meta}, self.shuffle_seed)


def _message_id(seed: str, posted: str, part: int) -> str:
    digest = hashlib.sha1(f"{seed}\0{posted}\0{part}".encode()).hexdigest()
    return f"{digest[:24]}.{part}@news.emulator.invalid"


def _obfuscated(seed: str, name: str) -> str:
    return hashlib.sha1(f"obfuscate\0{seed}\0{name}".encode()).hexdigest()


def _reader(src: SourceFile) -> tuple[str, int, Callable[[int, int], bytes]]:
    if isinstance(src, LazyFile):
        return src.name, src.size, src.read
    name, data = src
    return name, len(data), lambda off, n: data[off:off + n]


def post_file(store: ArticleStore, src: SourceFile, *, seed: str, posted_name: str, index: int,
              count: int, part_size: int = PART_SIZE, engine: Engine = "auto",
              escape_dot: bool = True, groups: Sequence[str] = DEFAULT_GROUPS,
              date: int | None = None) -> PostedFile:
    """Put one file's articles into ``store`` and describe them for the NZB."""
    name, size, read = _reader(src)
    total = max(1, -(-size // part_size))
    stamp = FIXED_DATE if date is None else date
    subject_base = f'[{index}/{count}] - "{posted_name}" yEnc'
    segments: list[Segment] = []
    lazy = isinstance(src, LazyFile)
    for part in range(1, total + 1):
        begin = (part - 1) * part_size
        length = min(part_size, size - begin)
        mid = _message_id(seed, posted_name, part)

        def produce(b: int = begin, n: int = length, p: int = part) -> bytes:
            return encode_part(read(b, n), name=posted_name, file_size=size, part=p, total=total,
                               begin=b, engine=engine, escape_dot=escape_dot)

        headers = {"Subject": f"{subject_base} ({part}/{total})", "From": POSTER,
                   "Newsgroups": ",".join(groups),
                   "Date": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(stamp))}
        if lazy and part > 1:
            store.add(mid, produce, headers)
            encoded = _estimate(length)
        else:
            body = produce()
            store.add(mid, produce if lazy else body, headers)
            encoded = len(body)
        segments.append(Segment(part, mid, encoded, begin, length))
    return PostedFile(name=name, posted_name=posted_name, size=size, segments=tuple(segments),
                      subject=f"{subject_base} (1/{total})", date=stamp, groups=tuple(groups))


def _estimate(length: int) -> int:
    """yEnc's usual size: ~1.6% escapes, CRLF per 128 bytes, ~120 bytes of headers."""
    return int(length * 1.016) + 2 * (length // LINE_LENGTH + 1) + 120


def build_release(files: Sequence[SourceFile], *, name: str, part_size: int = PART_SIZE,
                  store: ArticleStore | None = None, seed: str | None = None,
                  obfuscate: bool = False, par2: bool | None = None,
                  shuffle_seed: int | None = None, meta: Mapping[str, str] | None = None,
                  engine: Engine = "auto", escape_dot: bool = True,
                  groups: Sequence[str] = DEFAULT_GROUPS, date: int | None = None) -> Release:
    """Post ``files`` (NZB order) into ``store`` (a new one if None) and return the release.

    ``obfuscate`` posts every file under a random hex name; ``par2`` (default: on when
    obfuscated) adds ``<name>.par2``, a PAR2 index with every file's real name and hashes.
    ``shuffle_seed`` lists segments in a shuffled order in the NZB.
    """
    store = ArticleStore() if store is None else store
    seed = name if seed is None else seed
    sources = list(files)
    if par2 if par2 is not None else obfuscate:
        entries = [_par2_entry(src) for src in sources]
        sources.append((f"{name}.par2", par2_index(entries, slice_size=_slice_size(part_size))))
    posted: list[PostedFile] = []
    for i, src in enumerate(sources, 1):
        real = _reader(src)[0]
        is_par2 = real.lower().endswith(".par2")
        shown = real if not obfuscate else _obfuscated(seed, real) + (".par2" if is_par2 else "")
        posted.append(post_file(store, src, seed=seed, posted_name=shown, index=i, count=len(sources),
                                part_size=part_size, engine=engine, escape_dot=escape_dot,
                                groups=groups, date=date))
    return Release(name=name, files=posted, store=store, meta=dict(meta or {}),
                   shuffle_seed=shuffle_seed)


def _slice_size(part_size: int) -> int:
    return max(4, part_size - part_size % 4)


def _par2_entry(src: SourceFile) -> Par2File:
    if isinstance(src, LazyFile):
        head = src.read(0, min(src.size, 16384))
        md5 = src.md5 if src.md5 is not None else _lazy_md5(src)
        return Par2File(name=src.name, size=src.size, md5=md5, md5_16k=hashlib.md5(head).digest())
    return par2_file(src[0], src[1])


def _lazy_md5(src: LazyFile, step: int = 8 << 20) -> bytes:
    h = hashlib.md5()
    for off in range(0, src.size, step):
        h.update(src.read(off, min(step, src.size - off)))
    return h.digest()


def nzb_xml(files: Iterable[PostedFile], meta: Mapping[str, str],
            shuffle_seed: int | None = None) -> bytes:
    """The NZB 1.1 document for ``files`` (segments shuffled when ``shuffle_seed`` is set)."""
    rng = random.Random(shuffle_seed)
    out = ['<?xml version="1.0" encoding="UTF-8"?>', NZB_DOCTYPE, f'<nzb xmlns="{NZB_NS}">', " <head>"]
    out += [f"  <meta type={quoteattr(k)}>{escape(v)}</meta>" for k, v in meta.items()]
    out.append(" </head>")
    for f in files:
        out.append(f" <file poster={quoteattr(f.poster)} date=\"{f.date}\" subject={quoteattr(f.subject)}>")
        out.append("  <groups>" + "".join(f"<group>{escape(g)}</group>" for g in f.groups) + "</groups>")
        segs = list(f.segments)
        if shuffle_seed is not None:
            rng.shuffle(segs)
        out.append("  <segments>")
        out += [f'   <segment bytes="{s.bytes}" number="{s.number}">{escape(s.message_id)}</segment>'
                for s in segs]
        out.append("  </segments>")
        out.append(" </file>")
    out.append("</nzb>")
    return ("\n".join(out) + "\n").encode("utf-8")
