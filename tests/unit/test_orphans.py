"""Which copies of an import's infohash a listing may delete or adopt (``orphans.plan``)."""

from __future__ import annotations

from gateway.imports.orphans import Plan, plan
from gateway.imports.records import ImportRecord, ImportState
from gateway.models import Torrent, TorrentStatus

H = "a" * 40


def copy(torrent_id: str, added: float, status: TorrentStatus = TorrentStatus.DOWNLOADED) -> Torrent:
    return Torrent("rd", torrent_id, H, "film", 10, status, 1.0, added)


def record(**changes: object) -> ImportRecord:
    base = ImportRecord(hash=H, name="film", provider="rd", provider_id="B", state=ImportState.COMPLETE)
    return base.with_changes(**changes)


def test_the_recorded_copy_stays_and_the_other_goes() -> None:
    got = plan(record(), "rd", [copy("A", 100), copy("B", 105)], [99.0], complete=False, owned=False)
    assert got == Plan(delete=("A",))


def test_no_evidence_no_delete() -> None:
    assert plan(record(), "rd", [copy("A", 100), copy("B", 105)], [], complete=True, owned=False) == Plan()


def test_never_more_deletes_than_unsettled_adds_and_the_nearest_in_time_first() -> None:
    copies = [copy("B", 105), copy("USER", 5000), copy("A", 100)]
    assert plan(record(), "rd", copies, [99.0], complete=True, owned=False) == Plan(delete=("A",))


def test_an_add_in_flight_is_left_alone() -> None:
    got = plan(record(submitting=True, provider_id=""), "rd", [copy("A", 100)], [99.0], complete=True, owned=True)
    assert got == Plan()


def test_the_recorded_copy_gone_one_is_adopted_only_from_a_full_listing_of_an_idle_record() -> None:
    copies = [copy("A", 100, TorrentStatus.ERROR), copy("C", 101)]
    assert plan(record(), "rd", copies, [99.0, 100.5], complete=True, owned=False) == Plan(adopt="C", delete=("A",))
    assert plan(record(), "rd", copies, [99.0], complete=False, owned=False) == Plan()
    assert plan(record(), "rd", copies, [99.0], complete=True, owned=True) == Plan()


def test_an_import_held_elsewhere_owns_no_copy_here() -> None:
    got = plan(record(provider="alldebrid"), "rd", [copy("A", 100)], [99.0], complete=False, owned=False)
    assert got == Plan(delete=("A",))


def test_an_unplaced_import_takes_the_copy_itself() -> None:
    waiting = record(provider="", provider_id="", state=ImportState.QUEUED)
    assert plan(waiting, "rd", [copy("A", 100)], [99.0], complete=True, owned=False) == Plan()
