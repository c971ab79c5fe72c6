"""HTTP Basic for the WebDAV app, with the login throttle every login has.

Ours, not WsgiDAV's ``HTTPAuthenticator``: that one answers a malformed
``Authorization`` header (bad base64, no colon, bytes that are not UTF-8)
with a 500, and has no place for the throttle's 429. ``GatewayDAVApp`` asks
``refusal`` first, so there is no extra WSGI layer.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from gateway.auth import begin_attempt

StartResponse = Callable[..., Any]
READ_METHODS = ("GET", "HEAD", "OPTIONS", "PROPFIND")


class BasicAuth:
    """HTTP Basic for every method (``enable_webdav_auth``), or for writes only:
    reads may be open, but a stranger never deletes a torrent.

    Password checks are throttled per client IP (``REMOTE_ADDR``) and username, as
    every login is (``gateway.auth.LoginThrottle``): a banned client gets 429."""

    def __init__(self, check: Callable[[str, str], bool], *, reads_too: bool) -> None:
        self._check = check
        self._reads_too = reads_too

    def refusal(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes] | None:
        """The 401 or 429 answer of a request that may not pass; None when it may."""
        method = environ.get("REQUEST_METHOD", "")
        attempt = begin_attempt(str(environ.get("REMOTE_ADDR", "") or ""))
        if not (self._reads_too or method not in READ_METHODS) or self._authorized(environ):
            return None
        if attempt is not None and attempt.refused_for > 0:
            body = b"too many failed logins\n"
            start_response("429 Too Many Requests", [
                ("Retry-After", str(max(1, int(attempt.refused_for + 0.999)))),
                ("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        else:
            body = b"unauthorized\n"
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="decypharr", charset="UTF-8"'),
                                                ("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [b""] if method == "HEAD" else [body]   # cheroot sends a HEAD whatever body it is given

    def _authorized(self, environ: dict[str, Any]) -> bool:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if header[:6].lower() != "basic ":
            return False
        try:
            username, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return self._check(username, password)
