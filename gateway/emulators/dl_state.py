"""Emulated debridlink records (stub: filled in by the debridlink work)."""

from __future__ import annotations

from .front import ProviderState
from .model import DL


class DlState(ProviderState):
    key = DL
