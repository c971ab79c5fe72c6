"""The one guard every route passes, and the auth routes (setup, login, token).

Rules (contract §3), decided here and nowhere else:
- public: ``PUBLIC`` below (version, health, login and first-run setup, qBit login);
- ``/api/v2/*`` (qBittorrent): the qBit SID cookie or the Bearer token, else 403
  (the *arrs log in again on 403; a 401 is fatal to them);
- ``/sabnzbd/api``: SABnzbd's ``apikey`` (the API token), checked by the SAB app itself,
  since the *arrs need its own 200 JSON error phrases;
- the web UI: its static assets, ``/`` and ``/setup`` (they redirect by themselves) and
  ``POST /logout`` are public; ``POST /api/setup/debrid-check`` only while no user exists;
  a browser (``Accept: text/html``) without a session asking for a UI page gets a 302 to
  ``/login?next=...``; other clients get the JSON 401;
- every other route: the Bearer token or the UI session cookie, else 401 JSON;
- a state-changing request (POST, PUT, PATCH, DELETE) let in by the UI session cookie
  alone must carry ``X-CSRF-Token`` (or a form field ``csrf_token``) equal to the
  session's CSRF token (``Auth.csrf_token``, given to pages in ``<meta name="csrf-token">``),
  else 403 JSON; ``POST /login`` and ``POST /api/setup`` (no session yet) are exempt,
  ``POST /logout`` checks it itself;
- failed logins are throttled per client IP (``REMOTE_ADDR``) and username
  (``gateway.auth.LoginThrottle``): the guard starts each request's bookkeeping, a
  banned IP gets 403 ``Forbidden`` at the qBit login and 429 at the UI login.
With ``use_auth`` off everything passes. Tokens are compared in constant time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import bottle

from api.responses import ApiError, json_body, json_error
from api.web import api_errors
from gateway.auth import AlreadySetUp, Auth, AuthInputError, WrongPassword, begin_attempt

UI_COOKIE = "decypharr_session"
QBIT_COOKIE = "SID"
PUBLIC = {
    ("GET", "/version"), ("GET", "/health"), ("POST", "/api/setup"), ("GET", "/api/setup"),
    ("POST", "/login"), ("GET", "/login"), ("POST", "/api/v2/auth/login"), ("GET", "/api/v2/auth/login"),
    ("POST", "/logout"), ("GET", "/"), ("GET", "/setup"), ("GET", "/static/<name:path>"),
}
# The web UI's pages: without a session a browser is sent to the login page, not given JSON.
UI_PAGES = frozenset({"/dashboard", "/add", "/browse", "/repair", "/settings", "/stats", "/logs"})
STATIC_PREFIX = "/static/"
DEBRID_CHECK = "/api/setup/debrid-check"
MAX_JSON = 1 << 20
SIGNED_PREFIX = "/api/browse/download/"
SAB_PATH = "/sabnzbd/api"
QBIT_LOGIN = "/api/v2/auth/login"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_EXEMPT = frozenset({("POST", "/login"), ("POST", "/api/setup")})
CSRF_ERROR = "missing or wrong CSRF token"


def bearer(request: bottle.BaseRequest) -> str:
    header = request.get_header("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else ""


def client_ip(request: bottle.BaseRequest) -> str:
    """The peer's address (never X-Forwarded-For, which any client can write)."""
    return str(request.environ.get("REMOTE_ADDR", "") or "")


def csrf_candidate(request: bottle.BaseRequest) -> str:
    """The CSRF token a request carries: the header, else a form field (a form posted without JS)."""
    header = request.get_header(CSRF_HEADER, "") or ""
    if header:
        return header
    if "form" in (request.content_type or ""):   # urlencoded or multipart, never a JSON body
        return request.forms.getunicode(CSRF_FIELD, "") or ""
    return ""


def csrf_ok(auth: Auth, request: bottle.BaseRequest) -> bool:
    session = request.get_cookie(UI_COOKIE) or ""
    return auth.check_csrf(session, csrf_candidate(request))


def csrf_refused() -> bottle.HTTPResponse:
    return json_error(403, CSRF_ERROR)


def too_many_logins(seconds: float) -> bottle.HTTPResponse:
    """The UI's answer to a banned client: 429 with Retry-After."""
    minutes = max(1, math.ceil(seconds / 60))
    answer = json_error(429, f"too many failed logins; try again in {minutes} minutes")
    answer.set_header("Retry-After", str(max(1, math.ceil(seconds))))
    return answer


class Guard:
    """Called before every request (a Bottle ``before_request`` hook)."""

    def __init__(self, auth: Auth, use_auth: bool) -> None:
        self._auth = auth
        self._use_auth = use_auth

    def is_public(self, method: str, path: str) -> bool:
        if method in ("GET", "HEAD") and path.startswith(STATIC_PREFIX):
            return True   # the UI's CSS and JS: the login page needs them too
        if method == "POST" and path == DEBRID_CHECK and not self._auth.has_user():
            return True   # the first-run setup page checks a key before anyone can log in
        return (method, path) in PUBLIC or (method == "HEAD" and ("GET", path) in PUBLIC)

    def credential(self, request: bottle.BaseRequest) -> str:
        """What lets this request in: "bearer", "signed", "qbit", "session", or "" (nothing)."""
        token = bearer(request)
        if token and self._auth.check_api_token(token):
            return "bearer"
        # .strm files carry signed links: a player cannot send a token.
        signed = request.method in ("GET", "HEAD") and request.path.startswith(SIGNED_PREFIX)
        if signed and self._auth.check_signature(request.path, request.query.get("sig", "")):
            return "signed"
        if request.path.startswith("/api/v2/"):
            sid = request.get_cookie(QBIT_COOKIE) or ""
            return "qbit" if sid and self._auth.check_session("qbit", sid) is not None else ""
        session = request.get_cookie(UI_COOKIE) or ""
        return "session" if session and self._auth.check_session("ui", session) is not None else ""

    def allowed(self, request: bottle.BaseRequest) -> bool:
        return bool(self.credential(request))

    def __call__(self, request: bottle.BaseRequest) -> None:
        begin_attempt(client_ip(request))   # every password check of this request is throttled
        if not self._use_auth:
            return
        if request.path == QBIT_LOGIN and request.method in ("GET", "POST"):
            username = request.params.getunicode("username", "") or ""
            if self._auth.throttle.refused(client_ip(request), username) > 0:
                # qBittorrent's answer to a banned IP
                raise bottle.HTTPResponse("Forbidden", status=403, headers={"Content-Type": "text/plain"})
        if self.is_public(request.method, request.path):
            return
        if request.path == SAB_PATH or (request.path == "/api" and "mode" in request.query):
            return   # SABnzbd checks its own apikey and answers in its own shape (api/sabnzbd.py)
        how = self.credential(request)
        if how == "session" and request.method in UNSAFE_METHODS \
                and (request.method, request.path) not in CSRF_EXEMPT and not csrf_ok(self._auth, request):
            raise csrf_refused()
        if how:
            return
        if request.path.startswith("/api/v2/"):
            raise bottle.HTTPResponse("Forbidden", status=403, headers={"Content-Type": "text/plain"})
        if request.method in ("GET", "HEAD") and request.path in UI_PAGES and wants_html(request):
            raise bottle.HTTPResponse(status=302, headers={"Location": login_location(request)})
        raise json_error(401, "unauthorized: send 'Authorization: Bearer <api token>' or log in")


def script_prefix(request: bottle.BaseRequest) -> str:
    """url_base as this request reached us: '' or '/decypharr'."""
    return (request.script_name or "/").rstrip("/")


def login_location(request: bottle.BaseRequest) -> str:
    here = script_prefix(request) + request.path
    if request.query_string:
        here += "?" + request.query_string
    return f"{script_prefix(request)}/login?next={quote(here, safe='/')}"


def wants_html(request: bottle.BaseRequest) -> bool:
    return "text/html" in (request.get_header("Accept", "") or "")


def read_json(request: bottle.BaseRequest) -> dict[str, Any]:
    """The JSON object body, or a 400 that says what is wrong."""
    if (request.content_length or 0) > MAX_JSON:
        raise ApiError(413, "request body too large")
    raw = request.body.read(MAX_JSON + 1)
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


def _credentials(request: bottle.BaseRequest) -> tuple[str, str]:
    if "json" in (request.content_type or ""):
        data = read_json(request)
        return str(data.get("username", "")), str(data.get("password", ""))
    return request.forms.getunicode("username", "") or "", request.forms.getunicode("password", "") or ""


def make_auth_app(auth: Auth, use_auth: bool, secure_cookies: Callable[[], bool] = lambda: False, *,
                  login_page: Callable[[], bottle.HTTPResponse] | None = None) -> bottle.Bottle:
    """``login_page`` answers a browser's ``GET /login`` (api.ui's page). It is handed in by
    the composition root because api.ui imports this module: importing it back was a cycle."""
    app = bottle.Bottle()

    def setup() -> Any:
        if bottle.request.method == "GET":
            return json_body({"needs_setup": not auth.has_user()})
        username, password = _credentials(bottle.request)
        try:
            token = auth.setup(username, password)
        except AlreadySetUp:
            raise ApiError(409, "already set up: log in instead") from None
        except AuthInputError as exc:
            raise ApiError(400, str(exc)) from None
        return json_body({"api_token": token})

    def login() -> Any:
        if bottle.request.method == "GET":
            if login_page is not None and wants_html(bottle.request):
                return login_page()
            return json_body({"needs_setup": not auth.has_user(), "use_auth": use_auth})
        username, password = _credentials(bottle.request)
        source = client_ip(bottle.request)
        left = auth.throttle.refused(source, username)
        if left > 0:
            return too_many_logins(left)
        attempt = begin_attempt(source)
        if not auth.check_password(username, password):
            if attempt is not None and attempt.refused_for > 0:
                return too_many_logins(attempt.refused_for)
            raise ApiError(401, "wrong username or password")
        session = auth.create_session("ui", username)
        answer = json_body({"username": username, "csrf_token": auth.csrf_token(session)})
        answer.set_cookie(UI_COOKIE, session, httponly=True, samesite="lax", path="/",
                          secure=secure_cookies(), max_age=30 * 86400)
        return answer

    def who() -> Any:
        return json_body({"username": auth.username() or "", "api_token": auth.api_token() or ""})

    def refresh() -> Any:
        return json_body({"api_token": auth.refresh_api_token()})

    def logout() -> Any:
        session = bottle.request.get_cookie(UI_COOKIE) or ""
        if session and auth.check_session("ui", session) is not None:
            if not csrf_ok(auth, bottle.request):
                return csrf_refused()   # a cross-site form must not end the session
            auth.drop_session(session)
        answer = bottle.HTTPResponse(status=302, headers={"Location": script_prefix(bottle.request) + "/login"})
        answer.set_cookie(UI_COOKIE, "", httponly=True, samesite="lax", path="/", secure=secure_cookies(),
                          max_age=0, expires=0)
        return answer

    def change_password() -> Any:
        data = read_json(bottle.request)
        current, new = data.get("current_password"), data.get("new_password")
        if not isinstance(current, str) or not isinstance(new, str):
            raise ApiError(400, "send current_password and new_password as strings")
        try:
            auth.change_password(current, new)
        except WrongPassword as exc:
            raise ApiError(401, str(exc)) from None
        except AuthInputError as exc:
            raise ApiError(400, str(exc)) from None
        return json_body({"ok": True})

    app.route("/api/setup", ["GET", "POST"], api_errors(setup))
    app.route("/login", ["GET", "POST"], api_errors(login))
    app.route("/api/auth", "GET", api_errors(who))
    app.route("/api/refresh-token", "POST", api_errors(refresh))
    app.route("/logout", "POST", api_errors(logout))
    app.route("/api/auth/password", "POST", api_errors(change_password))
    return app
