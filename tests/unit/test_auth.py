"""Auth: first-run setup, passwords, the API token, sessions; all on a real SQLite file."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.auth import AlreadySetUp, Auth, AuthInputError
from gateway.store import Store

DAY = 86400.0


class FakeClock:
    """Time that moves only when the test says so."""

    def __init__(self, now: float = 1_700_000_000.0, mono: float = 1000.0) -> None:
        self.now_value = now
        self.mono_value = mono

    def now(self) -> float:
        return self.now_value

    def monotonic(self) -> float:
        return self.mono_value

    def advance(self, seconds: float) -> None:
        self.now_value += seconds
        self.mono_value += seconds

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.is_set()

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "config" / "decypharr.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path)
    yield s
    s.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def auth(store: Store, clock: FakeClock) -> Auth:
    return Auth(store, clock, session_ttl=10 * DAY)


def test_setup_once(auth: Auth) -> None:
    assert not auth.has_user() and auth.api_token() is None and auth.username() is None
    token = auth.setup("admin", "correct horse")
    assert auth.has_user() and auth.username() == "admin"
    assert auth.api_token() == token and len(token) >= 40
    with pytest.raises(AlreadySetUp):
        auth.setup("other", "another password")
    with pytest.raises(AlreadySetUp):  # 409 wins over bad input once installed
        auth.setup("", "x")
    assert auth.api_token() == token and auth.username() == "admin"
    assert not auth.check_password("other", "another password")


def test_password_check(auth: Auth, store: Store) -> None:
    auth.setup("admin", "correct horse")
    assert auth.check_password("admin", "correct horse")
    assert not auth.check_password("admin", "correct horsE")
    assert not auth.check_password("Admin", "correct horse")
    assert not auth.check_password("nobody", "correct horse")
    assert not auth.check_password("admin", "")
    assert not auth.check_password("admin", "x" * 5000)


def test_password_stored_as_scrypt(auth: Auth, store: Store) -> None:
    auth.setup("admin", "correct horse")
    stored = store.query("SELECT password_hash FROM users")[0][0]
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    assert len(bytes.fromhex(salt)) == 16 and len(bytes.fromhex(digest)) == 32
    assert "correct horse" not in stored


def test_corrupt_password_row_never_logs_in(auth: Auth, store: Store) -> None:
    auth.setup("admin", "correct horse")
    for bad in ("garbage", "bcrypt$1$2$3$00$00", "scrypt$x$8$1$00$00", f"scrypt${2**30}$8$1$00$00"):
        with store.transaction() as conn:
            conn.execute("UPDATE users SET password_hash = ?", (bad,))
        assert not auth.check_password("admin", "correct horse")


def test_api_token_check_and_refresh(auth: Auth) -> None:
    assert not auth.check_api_token("anything")
    old = auth.setup("admin", "correct horse")
    assert auth.check_api_token(old)
    assert not auth.check_api_token(old[:-1])
    assert not auth.check_api_token("")
    assert not auth.check_api_token("é" * 10)  # non-ASCII must not raise
    new = auth.refresh_api_token()
    assert new != old and auth.api_token() == new
    assert auth.check_api_token(new)
    assert not auth.check_api_token(old)


def test_session_lifecycle(auth: Auth, clock: FakeClock) -> None:
    ui = auth.create_session("ui", "admin")
    qbit = auth.create_session("qbit", "sonarr")
    assert ui != qbit
    assert auth.check_session("ui", ui) == "admin"
    assert auth.check_session("qbit", qbit) == "sonarr"
    assert auth.check_session("qbit", ui) is None  # kinds do not mix
    assert auth.check_session("ui", ui) == "admin"  # ...and the mismatch did not drop it
    assert auth.check_session("ui", "made-up") is None
    assert auth.check_session("ui", "") is None
    auth.drop_session(ui)
    assert auth.check_session("ui", ui) is None
    assert auth.check_session("qbit", qbit) == "sonarr"


def test_session_tokens_stored_hashed(auth: Auth, store: Store) -> None:
    token = auth.create_session("ui", "admin")
    hashes = [row[0] for row in store.query("SELECT token_hash FROM sessions")]
    assert hashes and token not in hashes


def test_session_expires_and_is_deleted(auth: Auth, clock: FakeClock, store: Store) -> None:
    token = auth.create_session("ui", "admin")
    clock.advance(10 * DAY - 1)
    assert auth.check_session("ui", token) == "admin"
    clock.advance(10 * DAY)  # the check above extended it to 20 days minus 1 s from the start
    assert auth.check_session("ui", token) is None
    assert store.query("SELECT COUNT(*) FROM sessions")[0][0] == 0


def test_session_unused_expires_at_ttl(auth: Auth, clock: FakeClock) -> None:
    token = auth.create_session("qbit", "radarr")
    clock.advance(10 * DAY)
    assert auth.check_session("qbit", token) is None


def test_session_in_use_is_extended_only_after_half_ttl(auth: Auth, clock: FakeClock, store: Store) -> None:
    auth.create_session("ui", "admin")
    token = auth.create_session("ui", "admin")
    start = clock.now()

    def expires() -> float:
        return max(row[0] for row in store.query("SELECT expires FROM sessions"))

    clock.advance(4 * DAY)
    assert auth.check_session("ui", token) == "admin"
    assert expires() == start + 10 * DAY  # no write while more than half remains
    clock.advance(2 * DAY)
    assert auth.check_session("ui", token) == "admin"
    assert expires() == start + 16 * DAY


def test_create_session_prunes_expired(auth: Auth, clock: FakeClock, store: Store) -> None:
    for _ in range(3):
        auth.create_session("qbit", "sonarr")
    clock.advance(11 * DAY)
    auth.create_session("qbit", "sonarr")
    assert store.query("SELECT COUNT(*) FROM sessions")[0][0] == 1


def test_persistence_across_stores(db_path: Path, clock: FakeClock) -> None:
    first = Store(db_path)
    auth = Auth(first, clock)
    token = auth.setup("admin", "correct horse")
    session = auth.create_session("ui", "admin")
    first.close()

    second = Store(db_path)
    try:
        again = Auth(second, clock)
        assert again.has_user()
        assert again.check_password("admin", "correct horse")
        assert again.check_api_token(token)
        assert again.check_session("ui", session) == "admin"
        with pytest.raises(AlreadySetUp):
            again.setup("admin", "correct horse")
    finally:
        second.close()


def test_database_file_is_private(db_path: Path, store: Store, clock: FakeClock) -> None:
    os.chmod(db_path, 0o644)
    auth = Auth(store, clock)
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    auth.setup("admin", "correct horse")
    for path in (db_path, Path(f"{db_path}-wal")):
        if path.exists():
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize("username, password, message", [
    ("", "long enough", "username"),
    ("x" * 65, "long enough", "username"),
    ("bad\nname", "long enough", "printable"),
    (" admin", "long enough", "spaces"),
    ("ad:min", "long enough", "':'"),
    ("admin", "short", "password"),
    ("admin", "x" * 1025, "password"),
])
def test_setup_input_validation(auth: Auth, username: str, password: str, message: str) -> None:
    with pytest.raises(AuthInputError, match=message):
        auth.setup(username, password)
    assert not auth.has_user() and auth.api_token() is None


def test_setup_accepts_the_limits(auth: Auth) -> None:
    auth.setup("é" * 64, "p" * 8)
    assert auth.check_password("é" * 64, "p" * 8)


def test_concurrent_setup_creates_one_user(auth: Auth, store: Store) -> None:
    results: list[str] = []
    errors: list[Exception] = []

    def attempt(name: str) -> None:
        try:
            results.append(auth.setup(name, "correct horse"))
        except AlreadySetUp as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(f"user{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 1 and len(errors) == 3
    assert store.query("SELECT COUNT(*) FROM users")[0][0] == 1
    assert auth.api_token() == results[0]
