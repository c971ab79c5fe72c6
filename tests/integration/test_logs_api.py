"""``GET /api/logs`` and a gateway run whose log never shows a secret or a download link."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests

from gateway import log as gwlog
from tests.integration.test_auth_rest import setup_user
from tests.integration.test_tree import base, folder
from tests.support import SAMPLE, TOKEN, expected, start_gateway


@pytest.fixture()
def logging_on() -> Iterator[gwlog.MemoryHandler]:
    """The memory buffer on the root logger at DEBUG, as ``configure_logging`` leaves it."""
    root = logging.getLogger()
    level = root.level
    memory = gwlog.attach_memory_handler()
    memory.clear()
    root.setLevel(logging.DEBUG)
    try:
        yield memory
    finally:
        root.setLevel(level)
        memory.clear()


def test_logs_api_filters(gateway, logging_on) -> None:
    logger = logging.getLogger("tests.logsapi")
    for i in range(30):
        logger.log(logging.WARNING if i % 3 == 0 else logging.INFO, "api line %d", i)
    logger.error("Needle in the HAYSTACK")
    url = f"{base(gateway)}/api/logs"

    answer = requests.get(url, params={"lines": "5", "q": "api line"}, timeout=10)
    assert answer.status_code == 200
    lines = answer.json()["lines"]
    assert [line["message"] for line in lines] == [f"api line {i}" for i in range(25, 30)]   # newest last
    assert set(lines[0]) == {"time", "level", "logger", "message"} and lines[0]["logger"] == "tests.logsapi"
    assert lines[0]["time"][:2] == "20" and "T" in lines[0]["time"]

    warnings = requests.get(url, params={"level": "warning", "q": "api line", "lines": "2000"}, timeout=10)
    assert [line["message"] for line in warnings.json()["lines"]] == [f"api line {i}" for i in range(0, 30, 3)]
    assert {line["level"] for line in warnings.json()["lines"]} == {"WARNING"}

    needle = requests.get(url, params={"q": "needle in the haystack", "level": "ERROR"}, timeout=10).json()
    assert [line["message"] for line in needle["lines"]] == ["Needle in the HAYSTACK"]

    default = requests.get(url, timeout=10).json()["lines"]
    assert 31 <= len(default) <= 200 and "Needle in the HAYSTACK" in [line["message"] for line in default]
    assert len(requests.get(url, params={"lines": "99999"}, timeout=10).json()["lines"]) <= 2000

    for params in ({"lines": "abc"}, {"lines": "0"}, {"lines": "-3"}, {"level": "loud"}):
        bad = requests.get(url, params=params, timeout=10)
        assert bad.status_code == 400, params
        assert bad.json()["code"] == 400 and bad.json()["error"]


def test_logs_api_needs_auth(emulator, tmp_path, logging_on) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), use_auth=True)
    try:
        url = f"{base(gw)}/api/logs"
        token = setup_user(gw)
        assert requests.get(url, timeout=10).status_code == 401
        ok = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert ok.status_code == 200 and isinstance(ok.json()["lines"], list)
        # The API token itself never shows in the log lines served.
        gwlog.register_secret(token)
        logging.getLogger("tests.logsapi").info("token %s", token)
        again = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert token not in again.text
    finally:
        gw.stop()


def test_gateway_run_logs_no_secret(gateway, logging_on) -> None:
    gwlog.register_secrets(gateway.config)   # build() registers them too; harmless twice
    entry = SAMPLE[0]
    path = entry["files"][0]["path"]
    url = f"{base(gateway)}/webdav/__all__/{quote(folder(gateway, entry))}/{quote(path)}"
    assert requests.get(url, timeout=30).content == expected(entry, path)
    logging.getLogger("tests.logsapi").debug("the account key is %s", TOKEN)
    text = "\n".join(line["message"] for line in logging_on.lines())
    assert text and "the account key is" in text   # the run did log
    assert TOKEN not in text
    assert "/cdn/rd/" not in text   # the emulator's CDN links carry their token in the path
    served = requests.get(f"{base(gateway)}/api/logs", params={"lines": "2000"}, timeout=10)
    assert TOKEN not in served.text and "/cdn/rd/" not in served.text
