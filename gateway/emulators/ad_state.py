"""Emulated alldebrid records (stub: filled in by the alldebrid work)."""

from __future__ import annotations

from .front import ProviderState
from .model import AD


class AdState(ProviderState):
    key = AD
