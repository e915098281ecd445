"""Back in stock: people a journey suppressed as out of stock come back into it once when
the product returns at their store, as its re-entry policy says."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from layercake.orchestrator.v1 import facts_pb2
from services.orchestrator import facts, mapping
from services.orchestrator.domain.facts import StockFact
from services.orchestrator.domain.instances import events as ev
from services.orchestrator.engine import Entry
from services.orchestrator.sends import SendPolicy
from services.orchestrator.store.memory import InMemoryOrchestratorUnitOfWork
from tests.unit.orchestrator.journey_harness import TENANT, Journeys
from tests.unit.orchestrator.test_journey_steps import events_of

PROMO = (Path(__file__).parent / "journeys" / "drinks-promo.yaml").read_text()
WARM = {"weather": {"temperature_c": 30.0}}


def stocked(j: Journeys, units: int) -> list[Entry]:
    """Sets diet soda's level at s-12 and hands each BackInStock it published to the
    engine, as the back-in-stock consumer does; the entries it made."""
    published = len(j.db.state.outbox)
    level = StockFact(TENANT, "diet_soda", "s-12", units, j.clock.now())
    with InMemoryOrchestratorUnitOfWork(j.db) as uow:
        facts.record_stock_levels(uow, [level])
        uow.commit()
    entries = []
    for message in j.db.state.outbox[published:]:
        if message.type != mapping.BACK_IN_STOCK:
            continue
        back = facts_pb2.BackInStock.FromString(message.payload)
        profile = j.directory.profiles[back.profile_id]
        with InMemoryOrchestratorUnitOfWork(j.db) as uow:
            waiter = mapping.stock_waiter(back)
            entries.append(j.engine.on_back_in_stock(uow, profile, waiter, back.units, "b-1"))
            uow.commit()
    return entries


async def suppressed_then_alternative(yaml_text: str = PROMO) -> tuple[Journeys, str]:
    j = Journeys(SendPolicy(caps=()))
    journey = j.publish(yaml_text)
    j.decider.action, j.decider.product = "diet_soda", "diet_soda"
    j.profile("p-1", store_id="s-12")
    stocked(j, 0)
    j.event("p-1", "checkout_viewed", context=WARM)
    await j.advance(timedelta(seconds=1))
    assert [r.step.template for r in j.send.requests] == ["drink-promo", "drink-alternatives"]
    return j, journey


async def test_stock_returning_re_enters_the_suppressed_person_once() -> None:
    j, journey = await suppressed_then_alternative()
    assert stocked(j, 6) == [Entry(True)]
    await j.advance(timedelta(seconds=1))
    assert [r.step.template for r in j.send.requests][2:] == ["drink-promo"]  # now in stock
    entered = [e for e in events_of(j, journey, "p-1") if isinstance(e, ev.InstanceEntered)]
    promo_send = j.send.requests[0].send_id
    assert [(e.run, e.entry, e.cause_id) for e in entered] == [
        (1, "event", entered[0].cause_id),
        (2, "back_in_stock", promo_send),  # the reason: the send it was suppressed for
    ]
    # the new run decides in the last run's context, the restock as its event
    _, context = j.decider.asked[1]
    assert context["weather"] == WARM["weather"]
    assert context["event"] == {
        "name": "back_in_stock",
        "properties": {"product": "diet_soda", "store": "s-12", "units": 6, "send_id": promo_send},
    }
    stats = j.stats(journey)
    assert (stats[(1, "", "entered:event")], stats[(1, "", "entered:back_in_stock")]) == (1, 1)
    assert stats[(1, "promote", "sent")] == 1
    assert stats[(1, "promote", "suppressed:out_of_stock")] == 1
    # the same release again (a redelivery the inbox missed) does not enter twice
    with InMemoryOrchestratorUnitOfWork(j.db) as uow:
        profile = j.directory.profiles["p-1"]
        waiter = next(m for m in j.db.state.outbox if m.type == mapping.BACK_IN_STOCK)
        again = mapping.stock_waiter(facts_pb2.BackInStock.FromString(waiter.payload))
        assert j.engine.on_back_in_stock(uow, profile, again, 6, "b-2") == Entry(
            False, "restocked_before"
        )
    assert stocked(j, 0) == []
    j.clock.advance(timedelta(seconds=1))
    assert stocked(j, 9) == []  # sent now: nobody waits any more


async def test_a_journey_that_does_not_ask_takes_no_one_back() -> None:
    j, journey = await suppressed_then_alternative(PROMO.replace(", back_in_stock: true", ""))
    assert stocked(j, 6) == [Entry(False, "not_asked")]
    assert j.instance(journey, "p-1").run == 1


async def test_a_cooldown_keeps_them_out_and_the_refusal_is_counted() -> None:
    cooled = PROMO.replace("policy: never", "policy: after_cooldown, cooldown: 1d")
    j, journey = await suppressed_then_alternative(cooled)
    assert stocked(j, 6) == [Entry(False, "cooldown")]
    assert j.stats(journey)[(1, "", "back_in_stock_refused:cooldown")] == 1
    assert j.instance(journey, "p-1").run == 1
