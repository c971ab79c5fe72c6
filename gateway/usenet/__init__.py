"""Usenet streaming: our NNTP client, one connection pool per server, server choice and hedging.

A provider of bytes beside ``gateway.providers``: the import and the VFS fetcher ask it for
articles by message-id through the ``Usenet`` façade.
"""

from gateway.usenet.client import Usenet
from gateway.usenet.config import UsenetServerConfig
from gateway.usenet.errors import ArticleMissing, UsenetUnavailable
from gateway.usenet.yenc import YencPart

__all__ = ["ArticleMissing", "Usenet", "UsenetServerConfig", "UsenetUnavailable", "YencPart"]
