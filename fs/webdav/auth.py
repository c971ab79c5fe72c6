"""HTTP Basic in front of the WebDAV app, with the login throttle every login has."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any

from gateway.auth import begin_attempt

StartResponse = Callable[..., Any]
READ_METHODS = ("GET", "HEAD", "OPTIONS", "PROPFIND")


class BasicAuth:
    """HTTP Basic in front of everything (``enable_webdav_auth``), or in front of
    DELETE only: reads may be open, but a stranger never deletes a torrent.

    Password checks are throttled per client IP (``REMOTE_ADDR``) and username, as
    every login is (``gateway.auth.LoginThrottle``): a banned client gets 429."""

    def __init__(self, app: Any, check: Callable[[str, str], bool], *, reads_too: bool) -> None:
        self._app = app
        self._check = check
        self._reads_too = reads_too

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        attempt = begin_attempt(str(environ.get("REMOTE_ADDR", "") or ""))
        if (self._reads_too or method not in READ_METHODS) and not self._authorized(environ):
            if attempt is not None and attempt.refused_for > 0:
                body = b"too many failed logins\n"
                start_response("429 Too Many Requests", [
                    ("Retry-After", str(max(1, int(attempt.refused_for + 0.999)))),
                    ("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
                return [body]
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="decypharr", charset="UTF-8"'),
                                                ("Content-Type", "text/plain"), ("Content-Length", "13")])
            return [b"unauthorized\n"]
        return self._app(environ, start_response)  # type: ignore[no-any-return]

    def _authorized(self, environ: dict[str, Any]) -> bool:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if header[:6].lower() != "basic ":
            return False
        try:
            username, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return self._check(username, password)

