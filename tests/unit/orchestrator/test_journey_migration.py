"""A migration map moves in-flight runs to the live version; its dry run counts the same."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.kernel.errors import FailedPrecondition, InvalidArgument
from services.orchestrator.domain.instances.migration import Move
from tests.unit.orchestrator.journey_harness import EXAMPLES, Journeys

CART = (EXAMPLES / "abandoned-cart.yaml").read_text()
# v2 renames the wait and sends another reminder
CART_V2 = (
    CART.replace("wait-for-order", "wait-for-order-2")
    .replace("cart-reminder}", "cart-reminder-2}")
    .replace("id: remind\n", "id: remind-2\n")
    .replace("diet_soda: remind}", "diet_soda: remind-2}")
    .replace("fallback: remind\n", "fallback: remind-2\n")
    .replace("next: remind\n", "next: remind-2\n")
)


async def in_flight(j: Journeys) -> str:
    journey = j.publish(CART)
    for p in ("p-1", "p-2", "p-3"):
        j.event(p, "cart_updated", {"total": 42.0})
    await j.advance(timedelta(hours=1))
    j.publish(CART_V2, version=2)
    return journey


async def test_the_dry_run_counts_what_then_moves() -> None:
    j = Journeys()
    journey = await in_flight(j)
    steps = {"wait-for-order": "wait-for-order-2"}
    dry = j.migrate(journey, (1, 2), steps, dry_run=True)
    assert dry == [Move("wait-for-order", "wait-for-order-2", 3)]
    assert {j.instance(journey, p).journey_version for p in ("p-1", "p-2", "p-3")} == {1}
    moved = j.migrate(journey, (1, 2), steps, dry_run=False)
    assert moved == dry
    assert (
        j.stats(journey)[(2, "", "migrated_in")] == 3 == j.stats(journey)[(1, "", "migrated_out")]
    )
    instance = j.instance(journey, "p-1")
    assert (instance.journey_version, instance.step_id) == (2, "wait-for-order-2")
    await j.advance(timedelta(hours=2, minutes=59))
    assert j.send.requests == []  # the wait kept its due time: 4h after entry
    await j.advance(timedelta(minutes=1))
    assert j.sent_templates() == [(p, "cart-reminder-2") for p in ("p-1", "p-2", "p-3")]
    assert j.migrate(journey, (1, 2), steps, dry_run=True) == []


async def test_unmapped_runs_stay_on_their_version() -> None:
    j = Journeys()
    journey = await in_flight(j)
    moves = j.migrate(journey, (1, 2), {"remind": "remind-2"}, dry_run=False)
    assert moves == [Move("wait-for-order", "", 3)]
    await j.advance(timedelta(hours=3))
    assert {t for _, t in j.sent_templates()} == {"cart-reminder"}


async def test_a_bad_map_names_the_step_and_moves_nothing() -> None:
    j = Journeys()
    journey = await in_flight(j)
    with pytest.raises(InvalidArgument) as bad:
        j.migrate(journey, (1, 2), {"wait-for-order": "nowhere", "nope": "remind-2"}, dry_run=False)
    assert [v.field for v in bad.value.violations] == [
        "step_map.nope",
        "step_map.wait-for-order",
    ]
    with pytest.raises(FailedPrecondition):  # only to the live version
        j.migrate(journey, (1, 3), {"wait-for-order": "wait-for-order-2"}, dry_run=False)
    assert j.instance(journey, "p-1").journey_version == 1
