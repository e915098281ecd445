"""Profile changes merge per field by version: idempotent and order-free, without I/O."""

from __future__ import annotations

import itertools

import pytest

from services.kernel.profile_changes import ProfileChange, taken_from_merged, trait_count


def change(version: int, **parts: object) -> ProfileChange:
    return ProfileChange("acme", "p-1", version, **parts)  # type: ignore[arg-type]


def test_only_parts_newer_than_those_held_win() -> None:
    held = {"trait:plan": 5, "consent:email_marketing": 2, "identifier_count": 7}
    newer = change(
        5,
        traits={"plan": "gold", "visits": 3},
        consent={"email_marketing": False},
        identifier_count=2,
    ).newer_than(held)
    assert newer.traits == {"visits": 3}  # plan was set at 5 already: a repeat
    assert newer.consent == {"email_marketing": False}
    assert newer.identifier_count is None  # set at 7, newer than 5


def test_stamping_records_the_version_of_each_part_applied() -> None:
    applied = change(4, traits={"visits": 3}, consent={"analytics": True}, identifier_count=1)
    assert applied.stamped({"trait:plan": 2}) == {
        "trait:plan": 2,
        "trait:visits": 4,
        "consent:analytics": 4,
        "identifier_count": 4,
    }


def test_applying_a_change_twice_changes_nothing_the_second_time() -> None:
    first = change(3, traits={"visits": 3}, consent={"analytics": True})
    versions = first.newer_than({}).stamped({})
    assert first.newer_than(versions).empty


def test_keeping_reduces_traits_only() -> None:
    kept = change(1, traits={"timezone": "UTC", "visits": 3}, consent={"analytics": True})
    assert kept.keeping({"timezone"}) == change(
        1, traits={"timezone": "UTC"}, consent={"analytics": True}
    )


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_the_outcome_is_the_same_in_any_delivery_order(order: tuple[int, ...]) -> None:
    changes = [
        change(1, traits={"plan": "free", "visits": 1}, consent={"analytics": False}),
        change(2, traits={"plan": "gold"}),
        change(3, traits={"visits": 9}, consent={"analytics": True}),
    ]
    values: dict[str, object] = {}
    versions: dict[str, int] = {}
    for index in order:
        newer = changes[index].newer_than(versions)
        values |= {f"trait:{k}": v for k, v in newer.traits.items()}
        values |= {f"consent:{k}": v for k, v in newer.consent.items()}
        versions = newer.stamped(versions)
    assert values == {"trait:plan": "gold", "trait:visits": 9, "consent:analytics": True}
    assert trait_count(versions) == 2


def test_a_survivor_takes_only_the_fields_it_lacks_below_the_merge_version() -> None:
    survivor = {"trait:plan": 3, "consent:analytics": 2}
    merged = {"trait:plan": 40, "trait:visits": 9, "consent:email_marketing": 1}
    taken = taken_from_merged(survivor, merged, merge_version=4)
    # plan: both hold it; identity's update at 4 says if the merged value won (versions of
    # two streams never decide), so the survivor keeps its own
    assert taken == {"trait:visits": 3, "consent:email_marketing": 3}
    assert change(4, traits={"visits": 1}).newer_than(survivor | taken).traits == {"visits": 1}


def test_folding_a_merged_copy_twice_takes_nothing_the_second_time() -> None:
    merged = {"trait:visits": 9, "identifier_count": 2}
    once = {"trait:plan": 3} | taken_from_merged({"trait:plan": 3}, merged, 5)
    assert taken_from_merged(once, merged, 5) == {}
