"""Redaction on every handler: registered secrets and download links never reach a log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from gateway import log as gwlog
from gateway.config import parse_config

KEY = "RDKEY1234567890ABCDEFGH"


@pytest.fixture()
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger with a stream handler carrying the redaction filter, and the memory buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(gwlog.RedactingFilter())
    logger = logging.getLogger("tests.redaction")
    logger.setLevel(logging.DEBUG)
    logger.propagate = True
    logger.addHandler(handler)
    memory = gwlog.attach_memory_handler()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    gwlog.register_secret(KEY)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        root.setLevel(level)
        memory.clear()


def memory_text() -> str:
    return "\n".join(line["message"] for line in gwlog.recent_lines(2000))


def test_registered_key_in_message_and_args(captured) -> None:
    logger, stream = captured
    logger.info("key is " + KEY)
    logger.warning("calling with %s and %r", KEY, {"api_key": KEY})
    text = stream.getvalue()
    assert KEY not in text and KEY not in memory_text()
    assert "****EFGH" in text   # long keys keep their last four characters, like the API shows them


def test_short_values_are_not_secrets(captured) -> None:
    logger, stream = captured
    gwlog.register_secret("abc12")
    gwlog.register_secret("")
    gwlog.register_secret(None)
    logger.info("abc12 stays")
    assert "abc12 stays" in stream.getvalue()


def test_download_links_cut_to_scheme_and_host(captured) -> None:
    logger, stream = captured
    links = ["https://edge-1.cdn.example/cdn/ABCDEF0123/secretpath/file.mkv",
             "https://real-debrid.com/d/TOKENINPATH42",
             "http://files.example:8080/dl/xyz789/movie.mkv",
             "https://api.example/download?id=3&token=QUERYTOKEN99",
             "https://api.example/link?apikey=APIKEYVALUE1",
             "https://x.example/a?auth_token=AUTHTOK555&other=1",
             "https://x.example/b?sig=SIGNATURE77"]
    for link in links:
        logger.info("fetching %s (retry)", link)
    text = stream.getvalue()
    for secret in ("ABCDEF0123", "secretpath", "TOKENINPATH42", "xyz789", "QUERYTOKEN99", "APIKEYVALUE1",
                   "AUTHTOK555", "SIGNATURE77"):
        assert secret not in text and secret not in memory_text()
    assert "https://edge-1.cdn.example/…(redacted) (retry)" in text
    assert "http://files.example:8080/…(redacted)" in text
    assert "https://real-debrid.com/…(redacted)" in text


def test_ordinary_urls_stay_but_lose_user_info(captured) -> None:
    logger, stream = captured
    logger.info("sonarr at http://sonarr:8989/api/v3/queue")
    logger.info("proxy http://user:hunter22@proxy:3128/x")
    text = stream.getvalue()
    assert "http://sonarr:8989/api/v3/queue" in text
    assert "hunter22" not in text and "http://proxy:3128/x" in text


def test_exception_text_is_redacted(captured) -> None:
    logger, stream = captured
    try:
        raise RuntimeError(f"GET https://cdn.example/dl/LEAKYLINK failed for {KEY}")
    except RuntimeError:
        logger.exception("stream failed: %s", "https://host.example/file?token=LEAKYQUERY")
    text = stream.getvalue()
    assert "Traceback" in text and "RuntimeError" in text
    for secret in (KEY, "LEAKYLINK", "LEAKYQUERY"):
        assert secret not in text and secret not in memory_text()
    assert "Traceback" in memory_text()


def test_url_encoded_secret_is_masked(captured) -> None:
    logger, stream = captured
    gwlog.register_secret("pass/word+with=chars")
    logger.info("sent pass%2Fword%2Bwith%3Dchars and pass/word+with=chars")
    assert "chars" not in stream.getvalue()


def test_register_secrets_from_config(captured, tmp_path) -> None:
    logger, stream = captured
    config = parse_config({"debrids": [{"name": "rd", "provider": "realdebrid", "api_key": "MAINKEY-aaaa",
                                        "download_api_keys": ["DLKEY-bbbbbb"]}],
                           "arrs": [{"name": "sonarr", "host": "http://sonarr:8989", "token": "ARRTOKEN-cccc"}]},
                          str(tmp_path))
    gwlog.register_secrets(config)
    logger.info("keys %s %s %s", "MAINKEY-aaaa", "DLKEY-bbbbbb", "ARRTOKEN-cccc")
    text = stream.getvalue()
    assert "MAINKEY" not in text and "DLKEY" not in text and "ARRTOKEN" not in text


def test_configure_logging_writes_a_redacted_file(tmp_path) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    try:
        gwlog.configure_logging("debug", str(tmp_path / "logs"))
        assert root.level == logging.DEBUG and gwlog.MEMORY in root.handlers
        gwlog.register_secret(KEY)
        logging.getLogger("tests.file").info("key %s link %s", KEY, "https://cdn.example/d/ZZZLINK")
        for handler in root.handlers:
            handler.flush()
        text = (tmp_path / "logs" / "decypharr.log").read_text(encoding="utf-8")
        assert "tests.file" in text and KEY not in text and "ZZZLINK" not in text
        assert all(any(isinstance(f, gwlog.RedactingFilter) for f in h.filters) for h in root.handlers)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            if handler is not gwlog.MEMORY:
                handler.close()
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
        gwlog.MEMORY.clear()


def test_memory_buffer_filters() -> None:
    memory = gwlog.MemoryHandler(capacity=5)
    logger = logging.getLogger("tests.memory")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(memory)
    logger.propagate = False
    try:
        for i in range(8):
            logger.log(logging.INFO if i % 2 else logging.ERROR, "line %d", i)
    finally:
        logger.removeHandler(memory)
        logger.propagate = True
    assert [line["message"] for line in memory.lines()] == [f"line {i}" for i in range(3, 8)]
    assert [line["message"] for line in memory.lines(min_level=logging.ERROR)] == ["line 4", "line 6"]
    assert [line["message"] for line in memory.lines(limit=2, text="LINE")] == ["line 6", "line 7"]
    assert set(memory.lines()[0]) == {"time", "level", "logger", "message"}


def test_bare_link_paths_in_request_lines(captured) -> None:
    logger, stream = captured
    logger.debug('%s "%s %s HTTP/1.1" %s', "http://127.0.0.1:4000", "GET", "/cdn/rd/LINKTOKEN42/a.mkv", 206)
    logger.debug("opening /api/browse/download/x/y.mkv?sig=SIGVALUE9 for a player")
    logger.debug("listing /webdav/__all__/Show/ (no link)")
    text = stream.getvalue()
    assert "LINKTOKEN42" not in text and "SIGVALUE9" not in text
    assert '"GET /…(redacted) HTTP/1.1" 206' in text and "/webdav/__all__/Show/" in text
