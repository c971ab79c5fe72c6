"""Fuzzing the NZB reader: only NzbError, no entities or DTD internal subsets, exact round trips."""

from __future__ import annotations

import hashlib
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.imports.nzb import NzbError, parse_nzb
from tests.fuzz import FUZZ

NS = "http://www.newzbin.com/DTD/2003/nzb"
DOCTYPE = '<!DOCTYPE nzb PUBLIC "-//newzBin//DTD NZB 1.1//EN" "http://www.newzbin.com/DTD/nzb/nzb-1.1.dtd">'

# Characters XML 1.0 can carry (in an attribute, as a character reference where needed).
xml_chars = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Co"),
                          exclude_characters="\ufffe\uffff") | st.sampled_from("\t\n\r")
file_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Co"),
                                   exclude_characters='"\ufffe\uffff'), min_size=1, max_size=30)


def attr(value: str) -> str:
    return quoteattr(value, {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


@st.composite
def nzbs(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, int]]]:
    """A valid NZB and the (name, size) list it should give."""
    files = []
    body = []
    for index in range(draw(st.integers(1, 5))):
        named = draw(st.booleans())
        name = draw(file_names) if named else f"file{index}"
        before = draw(st.text(xml_chars.filter(lambda c: c != '"'), max_size=10))
        after = draw(st.text(xml_chars, max_size=10))
        subject = f'{before}"{name}"{after}' if named else draw(st.text(xml_chars.filter(lambda c: c != '"'),
                                                                       max_size=10))
        segments = draw(st.lists(st.integers(0, 1 << 40), max_size=5))
        segs = "".join(f'<segment bytes="{b}" number="{i + 1}">{escape(f"<id{i}@x>")}</segment>'
                       for i, b in enumerate(segments))
        body.append(f'<file poster="p" date="1" subject={attr(subject)}><groups><group>a.b</group></groups>'
                    f"<segments>{segs}</segments></file>")
        files.append((name, sum(segments)))
    if not any(size for _, size in files):
        body.append('<file subject="&quot;pad.bin&quot;"><segments><segment bytes="1">x</segment></segments></file>')
        files.append(("pad.bin", 1))
    head = draw(st.sampled_from(['<?xml version="1.0" encoding="utf-8"?>\n', f'<?xml version="1.0"?>\n{DOCTYPE}\n',
                                 ""]))
    xmlns = draw(st.sampled_from([f' xmlns="{NS}"', ""]))
    meta = draw(st.sampled_from(["", '<head><meta type="title">t</meta></head>']))
    return f"{head}<nzb{xmlns}>{meta}{''.join(body)}</nzb>".encode(), files


@FUZZ
@given(nzbs())
def test_a_valid_nzb_round_trips(case: tuple[bytes, list[tuple[str, int]]]) -> None:
    data, files = case
    meta = parse_nzb(data)
    assert list(meta.files) == files
    assert meta.size == sum(size for _, size in files)
    assert meta.md5 == hashlib.md5(data).hexdigest()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(nzbs())[0])
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "cut", "truncate"]))
        if op == "insert":
            data[at:at] = draw(st.sampled_from([
                b"<", b">", b"&", b"&amp;", b"&#0;", b"&#x110000;", b'"', b"<!--", b"]]>", b"<![CDATA[x]]>",
                b"<!DOCTYPE nzb>", b'<!ENTITY a "b">', b"&a;", b"\x00", b"\xff\xfe", b"bytes=\"-5\"",
                b'<segment bytes="1e3">', b'<segment bytes="' + b"9" * 5000 + b'">', b"<?pi x?>",
                b'<?xml version="1.0" encoding="shift_jis"?>', b'<?xml version="1.0" encoding="bogus"?>',
            ]))
        elif op == "cut":
            del data[at:at + draw(st.integers(1, 20))]
        else:
            del data[at:]
    return bytes(data)


@FUZZ
@given(st.binary(max_size=200) | mutated() | st.text(max_size=100).map(str.encode))
def test_any_bytes_give_an_nzb_or_nzberror(data: bytes) -> None:
    try:
        meta = parse_nzb(data)
    except NzbError:
        return
    assert meta.files and meta.size > 0 and all(size >= 0 for _, size in meta.files)


@FUZZ
@given(st.sampled_from(['<!ENTITY a "aaaa">', '<!ENTITY a SYSTEM "file:///etc/passwd">',
                        '<!ENTITY % p "x">', '<!ELEMENT nzb ANY>', '<!ATTLIST segment bytes CDATA "7">']),
       st.sampled_from(["&a;", "", "x"]), st.sampled_from(["", '<?xml version="1.0"?>']))
def test_a_dtd_internal_subset_is_refused(declaration: str, use: str, head: str) -> None:
    data = (f'{head}<!DOCTYPE nzb [{declaration}]><nzb><file subject="&quot;a&quot;"><segments>'
            f'<segment bytes="1">{use}</segment></segments></file></nzb>').encode()
    with pytest.raises(NzbError, match="entities or a DTD"):
        parse_nzb(data)


# ------------------------------------------------------------------ findings, as named examples

def test_billion_laughs_is_refused() -> None:
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    data = f'<?xml version="1.0"?><!DOCTYPE nzb [<!ENTITY l0 "lol">{lol}]><nzb>&l9;</nzb>'.encode()
    with pytest.raises(NzbError, match="entities"):
        parse_nzb(data)


def test_an_internal_subset_without_entities_is_refused() -> None:
    """An ATTLIST default used to be applied: it gave every segment 7 bytes the file never said."""
    data = (b'<!DOCTYPE nzb [<!ATTLIST segment bytes CDATA "7">]><nzb><file subject="&quot;a&quot;">'
            b"<segments><segment>x</segment></segments></file></nzb>")
    with pytest.raises(NzbError, match="DTD"):
        parse_nzb(data)


def test_the_public_doctype_of_real_nzbs_is_accepted() -> None:
    data = (f'<?xml version="1.0" encoding="iso-8859-1" ?>\n{DOCTYPE}\n<nzb xmlns="{NS}">'
            '<file subject="x &quot;a.mkv&quot; yEnc (1/2)"><segments><segment bytes="5">i</segment>'
            '<segment bytes="6">j</segment></segments></file></nzb>').encode()
    assert parse_nzb(data).files == (("a.mkv", 11),)


@pytest.mark.parametrize("encoding", ["shift_jis", "bogus", "utf-16"])
def test_an_unusable_encoding_declaration_is_an_nzberror(encoding: str) -> None:
    with pytest.raises(NzbError):
        parse_nzb(f'<?xml version="1.0" encoding="{encoding}"?><nzb/>'.encode())


# ------------------------------------------------------- segments, gaps, duplicates, meta

meta_text = st.text(xml_chars.filter(lambda c: c != "\r"), max_size=15)   # XML turns a raw CR into LF


@st.composite
def segment_lists(draw: st.DrawFn) -> list[tuple[int, str]]:
    """(number, message id) pairs as posters write them: shuffled, with gaps, repeats, blanks."""
    count = draw(st.integers(0, 8))
    pairs = [(n, f"part{n}.{draw(st.integers(0, 3))}@poster") for n in range(1, count + 1)]
    if pairs and draw(st.booleans()):
        del pairs[draw(st.integers(0, len(pairs) - 1))]                  # a gap (or the first/last)
    extra = draw(st.lists(st.tuples(st.integers(-2, count + 2),
                                    st.sampled_from(["dup@poster", "", "part1.0@poster"])), max_size=3))
    if pairs:
        extra += draw(st.lists(st.sampled_from(pairs), max_size=2))       # the same segment twice
    return draw(st.permutations(pairs + extra))


def oracle(pairs: list[tuple[int, str]]) -> tuple[tuple[str, ...] | None, str]:
    """What the reader must say of one file's segments: ids by number, and the kind of problem."""
    by_number: dict[int, set[str]] = {}
    for number, message_id in pairs:
        by_number.setdefault(number, set()).add(message_id)
    if any(len(ids) > 1 for ids in by_number.values()):
        return None, "twice"
    numbers = sorted(by_number)
    ids = tuple(next(iter(by_number[n])) for n in numbers)
    if not numbers:
        return ids, "no segments"
    if numbers != list(range(1, len(numbers) + 1)):
        return ids, "missing"
    if not all(ids):
        return ids, "no message id"
    return ids, ""


@st.composite
def nzbs_with_segments(draw: st.DrawFn) -> tuple[bytes, list[list[tuple[int, str]]], dict[str, str]]:
    files = [draw(segment_lists()) for _ in range(draw(st.integers(1, 4)))]
    body = []
    for index, pairs in enumerate(files):
        segs = "".join(f'<segment bytes="{draw(st.integers(0, 900_000))}" number="{n}">{escape(f"<{m}>")}</segment>'
                       for n, m in pairs)
        body.append(f'<file poster="p" subject="&quot;f{index}.bin&quot; yEnc"><groups><group>a.b</group></groups>'
                    f"<segments>{segs}</segments></file>")
    body.append('<file subject="&quot;pad.bin&quot;"><segments><segment bytes="1" number="1">pad@x</segment>'
                "</segments></file>")
    metas = draw(st.lists(st.tuples(st.sampled_from(["name", "Name", "password", "title", "PASSWORD"]), meta_text),
                          max_size=4))
    expected: dict[str, str] = {}
    for kind, text in metas:
        expected.setdefault(kind.lower(), text.strip())
    head = "<head>" + "".join(f'<meta type="{k}">{escape(t)}</meta>' for k, t in metas) + "</head>" if metas else ""
    xmlns = draw(st.sampled_from([f' xmlns="{NS}"', ""]))
    return f'<?xml version="1.0"?>\n<nzb{xmlns}>{head}{"".join(body)}</nzb>'.encode(), files, expected


@FUZZ
@given(nzbs_with_segments())
def test_segments_are_sorted_and_every_gap_or_conflict_is_named(
        case: tuple[bytes, list[list[tuple[int, str]]], dict[str, str]]) -> None:
    data, files, metas = case
    meta = parse_nzb(data)
    assert len(meta.entries) == len(files) + 1
    for entry, pairs in zip(meta.entries, files, strict=False):
        ids, problem = oracle(pairs)
        if problem:
            assert problem in entry.problem, (pairs, entry)
        else:
            assert entry.problem == "", (pairs, entry)
        if ids is not None:
            assert entry.message_ids == ids, (pairs, entry)
    assert meta.entries[-1].message_ids == ("pad@x",) and meta.entries[-1].problem == ""
    assert meta.name == metas.get("name", "") and meta.password == metas.get("password", "")


@st.composite
def mutated_segments(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(nzbs_with_segments())[0])
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.sampled_from([
            b'number="x"', b'number="-1"', b'number="' + b"9" * 400 + b'"', b'bytes=""', b"<segment/>",
            b"<segments>", b"</file>", b"<meta>", b'<meta type="">', b"</head>", b"<file>", b"\x00", b"&#1;"]))
    return bytes(data)


@FUZZ
@given(mutated_segments())
def test_mangled_segments_give_an_nzb_or_a_clear_nzberror(data: bytes) -> None:
    try:
        meta = parse_nzb(data)
    except NzbError as exc:
        assert str(exc)
        return
    for entry in meta.entries:
        assert isinstance(entry.problem, str) and all(isinstance(i, str) for i in entry.message_ids)
        assert entry.problem or (entry.message_ids and all(entry.message_ids))
