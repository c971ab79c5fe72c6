"""Offering an import to the accounts in turn: one account a step, its refusal recorded,
the next tried; a round every account turned down fails or starts again later."""

from __future__ import annotations

import logging

from gateway import errors
from gateway.imports import orphans
from gateway.imports.core import RETRY_LATER, _attempt
from gateway.imports.records import ImportRecord, ImportState
from gateway.imports.usenet_step import UsenetStep
from gateway.providers.base import Provider

log = logging.getLogger(__name__)

_SLOTS = "too many active downloads"
# Refusals that may pass with time: a round that met one starts again later instead of failing.
TRANSIENT = (_SLOTS, "quota exhausted", "account problem", "account disabled", "provider unavailable",
             "rate limited")


def _disabled(provider: Provider) -> str:
    """The reason an import waits for a disabled account (shown on the record)."""
    return f"account disabled: {provider.health.reason}"


class Submission(UsenetStep):
    def _others_left(self, record: ImportRecord) -> bool:
        return any(p.name not in record.tried and p.name != record.provider for p in self._providers_for(record))

    def _slots_elsewhere(self, record: ImportRecord, exc: errors.SlotsFull) -> None:
        """This account has no free slot but another may: take it back and move on."""
        provider = self._library.provider(record.provider)
        try:
            provider.delete(record.provider_id)
        except errors.ProviderError as failure:
            log.info("%s: could not withdraw it from %s: %s", record.hash, provider.name, failure)
        attempts = record.provider_attempts
        if attempts and attempts[-1] == (provider.name, "added"):
            attempts = attempts[:-1]
        self._turned_down(record.with_changes(provider_attempts=attempts), provider, _why(exc))

    def _providers_for(self, record: ImportRecord) -> list[Provider]:
        """The accounts that may take it, in the order adds try them (``priority``)."""
        providers = self._library.providers
        wanted = record.debrid or self._arr_debrid(record.category)
        if wanted:
            names: tuple[str, ...] = (wanted,) if wanted in providers else ()
        else:
            names = tuple(n for n in self._config.debrid_order if n in providers)
        chosen = [providers[n] for n in names]
        if record.kind == "nzb":
            chosen = [p for p in chosen if p.capabilities.usenet]
        return chosen

    def _arr_debrid(self, category: str) -> str:
        arr = next((a for a in self._config.arrs if a.name == category), None)
        return arr.selected_debrid if arr else ""

    def _submit(self, record: ImportRecord) -> None:
        """Offer it to the next account of this round; one account per step.

        An account that turns it down for a reason another may not share (not
        cached, slots full, a content filter, quota, down) is recorded and the
        next one is tried; a refusal every account would share ends the import.
        """
        everyone = self._providers_for(record)
        if not everyone:
            kind = "NZBs (configure a torbox or premiumize account)" if record.kind == "nzb" else "it"
            self._fail(record, f"no configured account takes {kind}"
                       + (f" named {record.debrid!r}" if record.debrid else ""))
            return
        candidates = [p for p in everyone if p.name not in record.tried]
        if not candidates:
            self._round_over(record)
            return
        provider = candidates[0]
        if provider.health.disabled:   # a refused key is not asked: the next account, or wait
            self._turned_down(record, provider, _disabled(provider), quiet=True)
            return
        crashed_mid_add = record.submitting
        record = self._save(record.with_changes(submitting=True))
        try:
            if not self._cache_ok(provider, record):
                self._turned_down(record, provider, "not cached (download_uncached is off)")
                return
            torrent_id = self._existing(provider, record, fresh=crashed_mid_add)
            if torrent_id:
                self._repo.settle(record.hash, provider.name, newest=False)   # a copy of an earlier add
                sent = ""
            else:
                torrent_id, sent = self._send_recorded(provider, record), provider.name
        except (errors.BadRequest, errors.NotFound) as exc:
            self._fail(record.with_changes(provider_attempts=_attempt(record, provider.name, _why(exc))),
                       f"{provider.name} rejected it: {exc.code or exc}")
            return
        except errors.ProviderError as exc:   # Blocked (451), SlotsFull, QuotaExceeded, AuthError, Unavailable
            # A refused key has just disabled the account: the record says so, as it will while it waits.
            self._turned_down(record, provider, _disabled(provider) if provider.health.disabled else _why(exc))
            return
        self._save(record.with_changes(
            provider=provider.name, provider_id=torrent_id, error="", state=ImportState.METADATA,
            next_try=0.0, submitting=False, provider_attempts=_attempt(record, provider.name, "added")),
            settle=sent)   # the id and the end of the evidence in one transaction: no window between

    def _cache_ok(self, provider: Provider, record: ImportRecord) -> bool:
        """Where the provider still has a cache check, ask it first: cheaper than an add
        (TorBox allows 60 adds an hour) and nothing to delete afterwards."""
        if not provider.capabilities.cache_check or record.kind == "nzb":
            return True
        if self._uncached_ok(record.with_changes(provider=provider.name)):
            return True
        return bool(provider.check_cached([record.hash]).get(record.hash, False))

    def _turned_down(self, record: ImportRecord, provider: Provider, why: str, *, quiet: bool = False) -> None:
        """Record the refusal and move on to the next account at once (``quiet``: a disabled
        account, whose state change was logged once already)."""
        (log.debug if quiet else log.info)("%s: %s turned it down: %s", record.hash, provider.name, why)
        self._save(record.with_changes(
            provider="", provider_id="", submitting=False, tried=record.tried + (provider.name,),
            provider_attempts=_attempt(record, provider.name, why), next_try=0.0,
            error=f"{provider.name}: {why}"))

    def _round_over(self, record: ImportRecord) -> None:
        """Every account turned it down in this round: fail, or start again later when
        one of the refusals may pass (slots, quota, an outage)."""
        round_ = record.provider_attempts[-len(record.tried):]
        reasons = "; ".join(f"{name}: {why}" for name, why in round_)
        transient = [why for _, why in round_ if why.startswith(TRANSIENT)]
        if not transient:
            self._fail(record.with_changes(tried=()), f"no account took it ({reasons})")
            return
        slots = any(why.startswith(_SLOTS) for why in transient)
        self._later(record, RETRY_LATER, tried=(), state=ImportState.QUEUED if slots else record.state,
                    error=f"will retry: {reasons}")

    def _existing(self, provider: Provider, record: ImportRecord, *, fresh: bool) -> str:
        """A torrent with this hash already in the account (a resumed or repeated add).

        After a crash between the provider's add and our save, the library may
        not have listed it yet, so ``fresh`` asks the provider itself.
        """
        torrents = provider.list_torrents() if fresh else list(self._library.snapshot().torrents.values())
        for torrent in torrents:
            if torrent.provider == provider.name and torrent.infohash == record.hash and not torrent.status.failed:
                return torrent.id
        return ""

    def _send_recorded(self, provider: Provider, record: ImportRecord) -> str:
        """Add, with the evidence (account, time) committed before the call; an error answer
        settles it here, an id when it is saved. An answer that never came (a crash, a dropped
        connection) leaves it, so a copy that shows up later is known as ours
        (``gateway/imports/orphans.py``)."""
        now = self._clock.now()
        self._repo.submitted(record.hash, provider.name, now, forget_before=now - orphans.ORPHAN_WINDOW)
        try:
            torrent_id = self._send(provider, record)
        except errors.Unavailable as exc:
            if exc.code == "connect":   # never reached the provider
                self._repo.settle(record.hash, provider.name)
            raise
        except errors.ProviderError:   # the provider answered: it made nothing
            self._repo.settle(record.hash, provider.name)
            raise
        return torrent_id

    def _send(self, provider: Provider, record: ImportRecord) -> str:
        payload = self._repo.torrent_file(record.hash) if record.has_torrent_file else b""
        if record.kind == "nzb":
            return provider.add_nzb(payload, record.name)
        if payload:
            return provider.add_torrent_file(payload)
        magnet = record.magnet or f"magnet:?xt=urn:btih:{record.hash}"
        return provider.add_magnet(magnet)

    def _uncached_ok(self, record: ImportRecord) -> bool:
        if record.kind == "nzb":
            return True   # fetching from usenet is what an NZB asks for; "cached" is a torrent idea
        if record.download_uncached is not None:
            return record.download_uncached
        arr = next((a for a in self._config.arrs if a.name == record.category), None)
        if arr is not None and arr.download_uncached is not None:
            return arr.download_uncached
        debrid = self._config.debrid(record.provider)
        return bool(debrid and debrid.download_uncached)


def _why(exc: errors.ProviderError) -> str:
    """A short reason for the import record: the error's kind and the provider's own code."""
    kinds = {errors.Blocked: "refused", errors.SlotsFull: "too many active downloads",
             errors.QuotaExceeded: "quota exhausted", errors.AuthError: "account problem",
             errors.Unavailable: "provider unavailable", errors.RateLimited: "rate limited",
             errors.BadRequest: "rejected", errors.NotFound: "not found"}
    kind = next((label for cls, label in kinds.items() if isinstance(exc, cls)), "failed")
    return f"{kind}: {exc.code}" if exc.code else kind
