"""The NNTP emulator: an article store, a threaded NNTP server over it, and release fixtures.

It plays the user's usenet servers in tests and in the demo; like every emulator it never
imports the product.
"""

from .knobs import Knobs, ServerStats
from .server import NNTPServer
from .store import Article, ArticleStore, bare_id

__all__ = ["Article", "ArticleStore", "Knobs", "NNTPServer", "ServerStats", "bare_id"]
