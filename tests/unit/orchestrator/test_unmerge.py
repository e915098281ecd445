"""Following identity's unmerge: a run stays with the profile its entry event belongs to."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.orchestrator.journey_harness import Journeys
from tests.unit.orchestrator.test_journey_runs import CART


async def test_a_run_merged_in_goes_with_the_profile_its_entry_event_belongs_to() -> None:
    j = Journeys()
    journey = j.publish(CART)
    bobs = j.event("p-bob", "cart_updated", {"total": 42.0})
    await j.advance(timedelta(hours=1))
    j.merge("p-ann", "p-bob")  # a wrong merge: bob's run continues as ann's
    moved = j.instance(journey, "p-ann")
    assert (moved.active, moved.entry_message_id) == (True, bobs)
    j.profile("p-bob2")
    j.directory.events = {"p-ann": set(), "p-bob2": {bobs}}  # identity's split
    await j.unmerge("p-ann", "p-bob2")
    await j.advance(timedelta(hours=4))
    assert j.sent_templates() == [("p-bob2", "cart-reminder")]  # once, to bob's side
    ann, bob = j.instance(journey, "p-ann"), j.instance(journey, "p-bob2")
    assert (ann.active, ann.exit_reason) == (False, "unmerged")
    assert (bob.run, bob.exit_reason, bob.entry_message_id) == (1, "completed", bobs)
    assert j.stats(journey)[(1, "", "entered:unmerge")] == 1


async def test_a_run_whose_entry_event_stays_with_the_split_profile_stays() -> None:
    j = Journeys()
    journey = j.publish(CART)
    anns = j.event("p-ann", "cart_updated", {"total": 42.0})
    j.audience_entered("p-ann", "vip")  # no journey listens: nothing
    j.profile("p-bob2")
    j.directory.events = {"p-ann": {anns}, "p-bob2": {anns, "m-other"}}  # it carried both
    await j.unmerge("p-ann", "p-bob2")
    await j.advance(timedelta(hours=5))
    assert j.sent_templates() == [("p-ann", "cart-reminder")]
    assert j.instance(journey, "p-bob2").run == 0
