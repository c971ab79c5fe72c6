from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from emulators.server import Emulator
from gateway.log import RedactingFilter
from tests.support import SAMPLE, TOKEN, Receiver, start_gateway

# Every secret the suite hands the gateway. Whatever any test does, none may reach a log line
# as the gateway writes it (through its redaction): checked over the whole run, at the end.
SUITE_SECRETS = (TOKEN, "second-token", "usenet-key", "arr-key", "tb-key", "adminadmin", "correct horse 9",
                 "second-secret-key", "sk-very-secret-1", "password1",
                 "s3cret-nntp-pass")   # tests/integration/test_usenet.py's NNTP password


class _LeakWatch(logging.Handler):
    """Sees every record of the run as the gateway's own handlers would write it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(RedactingFilter())
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:   # a record that cannot even be formatted is not a leak
            return
        if any(secret in line for secret in SUITE_SECRETS) and len(self.leaks) < 20:
            self.leaks.append(line[:300])


_WATCH = _LeakWatch()


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.addHandler(_WATCH)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)   # the gateway's INFO lines are checked too


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _WATCH.leaks:
        print("\nsecrets reached the log:\n  " + "\n  ".join(_WATCH.leaks))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    """One emulator for a whole module (rate limits off); tests reset it with ``support.frozen``."""
    with Emulator(rate_limit=False) as emu:
        yield emu


@pytest.fixture()
def emulator() -> Iterator[Emulator]:
    """A fresh emulated Real-Debrid with the sample library in the test account."""
    emu = Emulator(rate_limit=False).start()
    emu.world.add_account(TOKEN)
    emu.world.seed_library(TOKEN, SAMPLE)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture()
def gateway(emulator, tmp_path):
    gw = start_gateway(emulator, str(tmp_path / "config"))
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.hang.set()
        r.server.shutdown()
        r.server.server_close()
