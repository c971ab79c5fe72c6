"""FrozenMap: versions share their base, each behaves as its own dict, changes fold in."""

from __future__ import annotations

from gateway.library.frozenmap import FOLD_MIN, FrozenMap


def test_versions_are_independent_and_act_like_dicts() -> None:
    first: FrozenMap[str, int] = FrozenMap({"a": 1, "b": 2})
    second = first.evolve({"b": None, "c": 3})
    third = second.evolve({"a": 10, "b": 20})
    assert dict(first) == {"a": 1, "b": 2} and len(first) == 2
    assert dict(second) == {"a": 1, "c": 3} and len(second) == 2 and "b" not in second
    assert dict(third) == {"a": 10, "b": 20, "c": 3} and len(third) == 3
    assert second.get("b") is None and third["b"] == 20 and second == {"a": 1, "c": 3}


def test_removing_a_missing_key_keeps_the_length() -> None:
    m: FrozenMap[str, int] = FrozenMap({"a": 1}).evolve({"zz": None})
    assert len(m) == 1 and list(m) == ["a"]


def test_many_changes_fold_into_a_new_base() -> None:
    m: FrozenMap[int, int] = FrozenMap({i: i for i in range(10)})
    expected = dict(m)
    for i in range(FOLD_MIN * 3):
        m = m.evolve({i: i * 2, i + 1: None} if i % 3 else {i: i * 2})
        expected[i] = i * 2
        if i % 3:
            expected.pop(i + 1, None)
        assert len(m) == len(expected)
    assert dict(m) == expected
    assert len(m._delta) <= FOLD_MIN   # folded along the way, never one ever-growing delta
