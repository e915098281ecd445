"""The abandoned-cart journey (examples/abandoned-cart.yaml) with an injected clock."""

from __future__ import annotations

from datetime import timedelta

from services.orchestrator.domain.facts import StockFact
from services.orchestrator.domain.instances.steps import run_timer_id
from tests.unit.orchestrator.journey_harness import TENANT, Journeys


async def test_an_order_within_the_wait_converts_and_nothing_is_sent() -> None:
    j = Journeys()
    journey = j.publish_example("abandoned-cart.yaml")
    j.event("p-1", "cart_updated", {"total": 42.0})
    await j.advance(timedelta(hours=1))
    j.event("p-1", "order_placed")
    await j.advance(timedelta(hours=5))
    assert j.send.requests == []
    instance = j.instance(journey, "p-1")
    assert (instance.active, instance.exit_reason) == (False, "converted")
    assert (TENANT, run_timer_id(journey, "p-1")) not in j.db.state.timers
    assert j.stats(journey)[(1, "", "converted")] == 1


async def test_without_an_order_exactly_one_reminder_goes_out_after_the_timeout() -> None:
    j = Journeys()
    journey = j.publish_example("abandoned-cart.yaml")
    j.decider.action, j.decider.product = "diet_soda", "diet-soda-6"
    j.event("p-1", "cart_updated", {"total": 42.0})
    await j.advance(timedelta(hours=3, minutes=59))
    assert j.send.requests == []
    await j.advance(timedelta(minutes=1))
    assert j.sent_templates() == [("p-1", "cart-reminder")]
    assert (j.send.requests[0].decision or {})["product"] == "diet-soda-6"
    await j.advance(timedelta(hours=10))
    j.event("p-1", "cart_updated", {"total": 50.0})  # inside the 24h cooldown: no entry
    await j.advance(timedelta(hours=5))
    assert len(j.send.requests) == 1
    instance = j.instance(journey, "p-1")
    assert (instance.active, instance.exit_reason) == (False, "completed")
    stats = j.stats(journey)
    assert stats[(1, "remind", "sent")] == 1 and stats[(1, "", "entered")] == 1


async def test_a_small_cart_does_not_enter() -> None:
    j = Journeys()
    journey = j.publish_example("abandoned-cart.yaml")
    j.event("p-1", "cart_updated", {"total": 5.0})
    assert j.instance(journey, "p-1").run == 0


async def test_the_decision_being_down_takes_the_fallback() -> None:
    j = Journeys()
    journey = j.publish_example("abandoned-cart.yaml")
    j.decider.error = ConnectionError("decision is down")
    j.event("p-1", "cart_updated", {"total": 42.0})
    await j.advance(timedelta(hours=4))
    assert j.sent_templates() == [("p-1", "cart-reminder")]
    decision = j.instance(journey, "p-1")
    assert decision.exit_reason == "completed"


async def test_after_the_cooldown_the_person_enters_again() -> None:
    j = Journeys()
    journey = j.publish_example("abandoned-cart.yaml")
    j.event("p-1", "cart_updated", {"total": 42.0})
    await j.advance(timedelta(hours=5))
    await j.advance(timedelta(hours=20))
    j.event("p-1", "cart_updated", {"total": 42.0})
    await j.advance(timedelta(hours=5))
    assert len(j.send.requests) == 2
    assert j.instance(journey, "p-1").run == 2


async def test_the_decided_product_in_stock_at_the_persons_store_is_promoted() -> None:
    j = Journeys()
    j.publish_example("abandoned-cart.yaml")
    j.decider.action, j.decider.product = "water", "water-6"
    fact = StockFact(TENANT, "water-6", "s-12", 5, j.clock.now())
    j.db.state.stock_levels[(TENANT, "water-6", "s-12")] = fact
    j.profile("p-1", store_id="s-12")
    j.profile("p-2", store_id="s-99")  # none at their store: the alternatives go out
    for p in ("p-1", "p-2"):
        j.event(p, "cart_updated", {"total": 42.0})
    await j.advance(timedelta(hours=4))
    assert j.sent_templates() == [("p-1", "cart-reminder"), ("p-2", "cart-alternatives")]


async def test_the_decide_step_passes_the_entry_events_context_to_decide() -> None:
    j = Journeys()
    j.publish_example("abandoned-cart.yaml")
    j.decider.action, j.decider.product = "diet_soda", "diet-soda-6"
    context = {
        "weather": {"temperature_c": 31.5},
        "location": {"region": "coast", "store_id": "s-12"},
        "device": {"type": "ios", "id": "d-1", "advertisingId": "ad-1"},
        "ip": "192.0.2.1",
        "traits": {"email": "ann@example.com"},
    }
    j.event("p-1", "cart_updated", {"total": 42.0}, context)
    await j.advance(timedelta(hours=4))
    assert j.decider.asked == [
        (
            "cart_reminder",
            {
                "weather": {"temperature_c": 31.5},
                "location": {"region": "coast", "store_id": "s-12"},
                "device": {"type": "ios"},  # what names or tracks the person stays behind
                "event": {"name": "cart_updated", "properties": {"total": 42.0}},
                "journey": {"id": "abandoned-cart", "step": "pick"},
            },
        )
    ]
    assert j.sent_templates() == [("p-1", "cart-reminder")]


async def test_a_run_moved_by_a_merge_keeps_its_decide_context() -> None:
    j = Journeys()
    journey = j.publish_example("abandoned-cart.yaml")
    j.event("p-1", "cart_updated", {"total": 42.0}, {"weather": {"temperature_c": 12.0}})
    j.profile("p-2")
    j.merge("p-2", "p-1")  # the run continues as p-2's
    await j.advance(timedelta(hours=4))
    assert j.decider.asked == [
        (
            "cart_reminder",
            {
                "weather": {"temperature_c": 12.0},
                "event": {"name": "cart_updated", "properties": {"total": 42.0}},
                "journey": {"id": journey, "step": "pick"},
            },
        )
    ]
    assert j.sent_templates() == [("p-2", "cart-reminder")]
