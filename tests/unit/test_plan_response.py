"""fs.ranges.plan_response: the one GET/HEAD answer of WebDAV and the browse API."""

from __future__ import annotations

from email.utils import formatdate

from fs.ranges import environ_headers, plan_response
from fs.vfs import Entry

MTIME = 1_700_000_000.0
ENTRY = Entry("a.mkv", False, 1000, MTIME, "abc", "video/x-matroska")
NEWER = formatdate(MTIME + 60, usegmt=True)
OLDER = formatdate(MTIME - 60, usegmt=True)


def test_plain_get_is_200_with_the_whole_file() -> None:
    status, headers, start, end, _ = plan_response(ENTRY, {})
    assert (status, start, end) == (200, 0, 999)
    assert headers["Content-Length"] == "1000" and headers["ETag"] == '"abc"' and "Content-Range" not in headers


def test_range_is_206_and_a_bad_one_416() -> None:
    status, headers, start, end, _ = plan_response(ENTRY, {"Range": "bytes=10-19"})
    assert (status, start, end, headers["Content-Range"], headers["Content-Length"]) == \
        (206, 10, 19, "bytes 10-19/1000", "10")
    status, headers, *_ = plan_response(ENTRY, {"Range": "bytes=20-10"})
    assert status == 416 and headers == {"Content-Range": "bytes */1000"}


def test_if_range_of_another_version_sends_the_whole_file_even_for_a_bad_range() -> None:
    assert plan_response(ENTRY, {"Range": "bytes=5000-", "If-Range": '"old"'}).status == 200
    assert plan_response(ENTRY, {"Range": "bytes=0-0", "If-Range": '"abc"'}).status == 206
    assert plan_response(ENTRY, {"Range": "bytes=0-0", "If-Range": formatdate(MTIME, usegmt=True)}).status == 206
    assert plan_response(ENTRY, {"Range": "bytes=0-0", "If-Range": OLDER}).status == 200


def test_conditionals_in_rfc_order() -> None:
    assert plan_response(ENTRY, {"If-Match": '"old"', "If-None-Match": '"abc"'}).status == 412
    assert plan_response(ENTRY, {"If-Match": '"abc"', "If-None-Match": '"abc"'}).status == 304
    assert plan_response(ENTRY, {"If-Unmodified-Since": OLDER}).status == 412
    # If-None-Match wins over If-Modified-Since: a changed tag is a full answer whatever the date.
    assert plan_response(ENTRY, {"If-None-Match": '"old"', "If-Modified-Since": NEWER}).status == 200
    assert plan_response(ENTRY, {"If-Modified-Since": NEWER, "Range": "bytes=0-0"}).status == 304
    assert plan_response(ENTRY, {"If-Modified-Since": OLDER}).status == 200
    assert plan_response(ENTRY, {"If-Modified-Since": "not a date"}).status == 200


def test_an_empty_file_ignores_range() -> None:
    empty = Entry("e", False, 0, MTIME, "e0", "text/plain")
    status, headers, start, end, _ = plan_response(empty, {"Range": "bytes=0-10"})
    assert (status, headers["Content-Length"], end < start) == (200, "0", True)


def test_environ_headers_reads_wsgi_names() -> None:
    view = environ_headers({"HTTP_IF_RANGE": '"abc"', "HTTP_RANGE": "bytes=1-2", "PATH_INFO": "/x"})
    assert view.get("If-Range") == '"abc"' and view.get("Range") == "bytes=1-2" and view.get("If-Match") is None
    assert sorted(view) == ["If-Range", "Range"] and len(view) == 2
