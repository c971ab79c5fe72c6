"""The one HTTP call the integrations make: a 2xx answer, else ``Transient`` or ``Refused``."""

from __future__ import annotations

from typing import Any

import requests

from gateway.integrations.batch import Refused, Transient
from gateway.log import safe_url

TIMEOUT = (5.0, 15.0)   # connect, read: a scan request is answered at once by every server


def call(session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    where = f"{method} {safe_url(url.split('?', 1)[0])}"
    try:
        response = session.request(method, url, timeout=TIMEOUT, **kwargs)
    except requests.RequestException as exc:
        raise Transient(f"{where}: {type(exc).__name__}") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise Transient(f"{where}: HTTP {response.status_code}")
    if response.status_code >= 400:
        hint = " (check the token or password)" if response.status_code in (401, 403) else ""
        raise Refused(f"{where}: HTTP {response.status_code}{hint}: {response.text[:200]}")
    return response
