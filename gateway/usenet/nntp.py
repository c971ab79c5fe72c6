"""One NNTP connection on a blocking socket (RFC 3977 reading, RFC 4643 AUTHINFO USER/PASS).

``nntplib`` left the standard library in Python 3.13, and what we need is small: the greeting,
the login, ``BODY``, ``STAT`` and ``QUIT``, one command at a time (pipelining is optional and
some servers mishandle it). Every read has a deadline (the socket timeout), so a server that
stops sending never hangs a reader: it becomes ``ConnectionLost``.

Responses are parsed by ``sabctools.Decoder`` (SABnzbd's C parser): it splits status lines and
dot-terminated bodies, undoes dot-stuffing and decodes yEnc with SIMD, outside the GIL. We
receive straight into its buffer.
"""

from __future__ import annotations

import socket
import ssl as ssl_module
import threading

import sabctools

from gateway.usenet.config import UsenetServerConfig
from gateway.usenet.yenc import YencPart, to_part

DECODER_BUFFER = 256 * 1024   # bytes the decoder takes per receive; bodies larger than this stream through it
SNIFF = 1024                  # raw bytes kept from the start of a BODY answer, for the =ybegin fields
QUIT_TIMEOUT = 2.0            # a polite goodbye is not worth waiting long for


class NNTPError(Exception):
    """A server answer we cannot go on with; ``code`` is the NNTP status (0 when none came)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class ArticleNotFound(NNTPError):
    """430 (no such message-id) or 423 (no such number): not on this server."""


class TooManyConnections(NNTPError):
    """502 at the greeting or the login: the account's connection limit is reached (or access denied)."""


class AuthFailed(NNTPError):
    """481/482: the server refused the username or password."""


class ServerClosing(NNTPError):
    """400: the server is closing this connection."""


class ProtocolError(NNTPError):
    """An answer that makes no sense for the command sent."""


class ConnectionLost(NNTPError):
    """The connection broke, or a read passed its deadline."""


def _raise_for(code: int, line: str, what: str) -> None:
    text = f"{what}: {code} {line}".rstrip()
    if code in (430, 423):
        raise ArticleNotFound(text, code)
    if code == 502:
        raise TooManyConnections(text, code)
    if code in (481, 482):
        raise AuthFailed(text, code)
    if code == 400:
        raise ServerClosing(text, code)
    raise ProtocolError(text, code)


class Connection:
    """A logged-in connection to one server. Not thread-safe, except ``abort``."""

    def __init__(self, sock: socket.socket, label: str) -> None:
        self._sock = sock
        self.label = label
        self._decoder = sabctools.Decoder(DECODER_BUFFER)
        self._closed = False
        self._abort_lock = threading.Lock()

    @classmethod
    def open(cls, server: UsenetServerConfig, timeout: float,
             ssl_context: ssl_module.SSLContext | None = None) -> Connection:
        """Connect, read the greeting and log in when the server has a username; raises ``NNTPError``.

        ``ssl_context`` replaces the system's default trust (tests with a self-signed certificate).
        """
        label = f"{server.name} ({server.host}:{server.port})"
        try:
            sock = socket.create_connection((server.host, server.port), timeout=timeout)
        except OSError as exc:
            raise ConnectionLost(f"{label}: cannot connect: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if server.ssl:
                context = ssl_context or ssl_module.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=server.host)
        except (OSError, ssl_module.SSLError) as exc:
            sock.close()
            raise ConnectionLost(f"{label}: TLS handshake failed: {exc}") from exc
        conn = cls(sock, label)
        try:
            conn._greet_and_login(server)
        except BaseException:
            conn.close()
            raise
        return conn

    def _greet_and_login(self, server: UsenetServerConfig) -> None:
        code, line = self._status(None, "greeting")
        if code not in (200, 201):
            _raise_for(code, line, f"{self.label}: greeting")
        if not server.username:
            return
        code, line = self._status(f"AUTHINFO USER {server.username}", "login")
        if code == 381:
            code, line = self._status(f"AUTHINFO PASS {server.password}", "login")
        if code != 281:
            _raise_for(code, line, f"{self.label}: login")

    # ------------------------------------------------------------- commands

    def body(self, message_id: str) -> YencPart:
        """The decoded part; ``ArticleNotFound``, ``DamagedArticle`` (connection still usable) or ``NNTPError``."""
        response, head = self._exchange(f"BODY <{message_id}>", "BODY", sniff=True)
        if response.status_code != 222:
            _raise_for(response.status_code, _rest(response), f"{self.label}: BODY <{message_id}>")
        return to_part(response, head, message_id)

    def stat(self, message_id: str) -> bool:
        """True when the server has the article, False on 430/423."""
        code, line = self._status(f"STAT <{message_id}>", "STAT")
        if code == 223:
            return True
        if code in (430, 423):
            return False
        _raise_for(code, line, f"{self.label}: STAT <{message_id}>")
        return False   # unreachable: _raise_for always raises

    def quit(self) -> None:
        """Say goodbye and close; never raises (the connection is being dropped anyway)."""
        if self._closed:
            return
        try:
            self._sock.settimeout(QUIT_TIMEOUT)
            self._status("QUIT", "QUIT")
        except (NNTPError, OSError):
            pass
        self.close()

    def close(self) -> None:
        self._closed = True
        try:
            self._sock.close()
        except OSError:
            pass

    def abort(self) -> None:
        """From another thread: make a blocked read fail at once (its answer is no longer wanted)."""
        with self._abort_lock:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # --------------------------------------------------------------- wiring

    def _status(self, command: str | None, what: str) -> tuple[int, str]:
        response, _ = self._exchange(command, what, sniff=False)
        return response.status_code, _rest(response)

    def _exchange(self, command: str | None, what: str, *, sniff: bool) -> tuple[sabctools.NNTPResponse, bytes]:
        """Send ``command`` (None: nothing, the greeting) and read its one answer."""
        if self._closed:
            raise ConnectionLost(f"{self.label}: connection closed")
        self._decoder.expect(what)
        try:
            if command is not None:
                if any(c in command for c in "\r\n\0"):
                    raise ProtocolError(f"{self.label}: refusing to send a command with a line break")
                self._sock.sendall(command.encode("utf-8") + b"\r\n")
            return self._receive(what, sniff)
        except TimeoutError as exc:
            self._broken()
            raise ConnectionLost(f"{self.label}: {what}: no answer within the deadline") from exc
        except OSError as exc:
            self._broken()
            raise ConnectionLost(f"{self.label}: {what}: {exc}") from exc
        except NNTPError:
            self._broken()
            raise

    def _receive(self, what: str, sniff: bool) -> tuple[sabctools.NNTPResponse, bytes]:
        head = bytearray()
        while True:
            response = next(self._decoder, None)
            if response is not None:
                return response, bytes(head)
            with memoryview(self._decoder) as view:
                received = self._sock.recv_into(view)
                if sniff and len(head) < SNIFF:
                    head += view[:min(received, SNIFF - len(head))]
            if received == 0:
                raise ConnectionLost(f"{self.label}: {what}: the server closed the connection mid-answer")
            self._decoder.process(received)

    def _broken(self) -> None:
        """The byte stream is out of step with our commands: this connection can only be closed."""
        self._decoder.clear_expected()
        self.close()


def _rest(response: sabctools.NNTPResponse) -> str:
    """The status line without its code."""
    return (response.message or "")[4:].strip()


def decode_article(wire: bytes, message_id: str) -> YencPart:
    """Decode one ``222`` answer as it comes off the wire (status line, dot-stuffed body, ``.``).

    The same decoder and checks as ``Connection.body``, without a socket: for tests and tools.
    """
    decoder = sabctools.Decoder(max(len(wire), 1))
    decoder.expect("BODY")
    with memoryview(decoder) as view:
        view[:len(wire)] = wire
    decoder.process(len(wire))
    response = next(decoder, None)
    if response is None:
        raise ProtocolError(f"<{message_id}>: incomplete answer")
    if response.status_code != 222:
        _raise_for(response.status_code, _rest(response), f"BODY <{message_id}>")
    return to_part(response, wire[:SNIFF], message_id)
