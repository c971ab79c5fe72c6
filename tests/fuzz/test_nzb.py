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
