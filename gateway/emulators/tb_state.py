"""Emulated torbox records (stub: filled in by the torbox work)."""

from __future__ import annotations

from .front import ProviderState
from .model import TB


class TbState(ProviderState):
    key = TB
