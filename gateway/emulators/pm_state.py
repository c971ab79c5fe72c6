"""Emulated premiumize records (stub: filled in by the premiumize work)."""

from __future__ import annotations

from .front import ProviderState
from .model import PM


class PmState(ProviderState):
    key = PM
