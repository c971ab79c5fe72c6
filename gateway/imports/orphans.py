"""Second copies left at a provider by adds whose answer never arrived.

A crash (or a dropped connection) between an add and its answer leaves the
provider holding a torrent the gateway never recorded; when the provider
shows it only later, the resumed import does not find it and adds again, and
the account keeps two copies. Every add is therefore recorded (account and
time, ``ImportRepo.submitted``) in a transaction *before* the call and
settled when its answer arrives. A listing that later shows a second copy of
an import's infohash at an account with unsettled adds is reconciled here:
the copy the import records stays, the others go, at most one per unsettled
add; when the recorded copy is gone, one of them is adopted instead.

A copy is only ever deleted against that evidence, so a torrent the user
added at the provider outside the gateway (no unsettled add of ours there)
is never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.imports.records import ImportRecord
from gateway.models import Torrent

# How long an unsettled add may still turn into a copy. Providers create the torrent within
# the call; only their listing may lag, and a copy already listed when the import resumes is
# adopted, not added again. Older evidence is forgotten, so a copy the user adds later is
# never mistaken for ours.
ORPHAN_WINDOW = 3600.0


@dataclass(frozen=True)
class Plan:
    adopt: str = ""                 # the copy the import takes over (its recorded one is gone)
    delete: tuple[str, ...] = ()    # copies left by our unsettled adds


def plan(record: ImportRecord, account: str, copies: Sequence[Torrent], sent: Sequence[float], *,
         complete: bool, owned: bool) -> Plan:
    """What to do with the ``copies`` of ``record``'s infohash that ``account`` lists, given the
    times of its unsettled adds there (``sent``). ``complete``: the listing covers the whole
    account, so a recorded copy missing from it is gone. ``owned``: a worker steps the record."""
    if record.submitting or not copies or not sent:
        return Plan()   # an add in flight right now: its copy is not an orphan yet
    ids = {c.id for c in copies}
    adopt = ""
    if record.provider == account:
        if record.provider_id in ids:
            extras = [c for c in copies if c.id != record.provider_id]
        elif complete and record.provider_id and not owned:
            adopt = min(copies, key=lambda c: (c.status.failed, _distance(c, sent), c.id)).id
            extras = [c for c in copies if c.id != adopt]
        else:
            return Plan()   # a newest page without the recorded copy says nothing about it
    elif not record.provider and not record.state.finished:
        return Plan()       # the import's next add finds the copy in the library and takes it
    else:
        extras = list(copies)   # the import lives at another account, or ended: none is its own
    budget = len(sent) - (1 if adopt else 0)
    # More copies than evidence: the ones the provider dates nearest our adds are ours.
    extras.sort(key=lambda c: (_distance(c, sent), c.id))
    return Plan(adopt=adopt, delete=tuple(c.id for c in extras[:max(0, budget)]))


def _distance(torrent: Torrent, sent: Sequence[float]) -> float:
    return min(abs(torrent.added - at) for at in sent) if torrent.added else float("inf")
