"""One usenet server as the client sees it (built by the config layer from ``usenet.providers[]``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class UsenetServerConfig:
    name: str
    host: str
    port: int = 119
    username: str = ""
    password: str = field(default="", repr=False)   # a secret: never in a repr, a log line or an error
    ssl: bool = False
    max_connections: int = 20   # the account's limit: everything the gateway does with this server stays under it
    priority: int = 0           # lower is asked first
    backup: bool = False        # asked only when every primary lacks the article or is down
    backbone: str = ""          # servers sharing a tag share their articles: one 430 speaks for all of them
