"""A self-signed certificate for the emulator's TLS mode, made with the ``openssl`` CLI.

``cryptography`` is not a dependency; without an ``openssl`` binary TLS is simply
unavailable and :func:`self_signed` says why.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsPair:
    server: ssl.SSLContext   # hand to NNTPServer(ssl_context=...)
    client: ssl.SSLContext   # trusts exactly this certificate (hostname 127.0.0.1 / localhost)
    cert_path: Path


class TlsUnavailable(RuntimeError):
    pass


def self_signed(directory: Path, host: str = "127.0.0.1") -> TlsPair:
    """Write ``cert.pem``/``key.pem`` into ``directory`` and build both contexts."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TlsUnavailable("no openssl binary on PATH to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    cmd = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
           "-subj", "/CN=localhost", "-addext", f"subjectAltName=IP:{host},DNS:localhost",
           "-keyout", str(key), "-out", str(cert)]
    done = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        raise TlsUnavailable("openssl could not make a certificate: "
                             + done.stderr.decode(errors="replace")[-300:])
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return TlsPair(server=server, client=client, cert_path=cert)
