"""A journey's `priority`: which journeys one event enters first, and who gets a frequency
cap's last slot when journeys' sends of equal value contest it."""

from __future__ import annotations

from datetime import timedelta

from services.orchestrator.domain.frequency_caps import FrequencyCap, SendState
from services.orchestrator.sends import SendPolicy
from services.orchestrator.store.memory import InMemoryOrchestratorUnitOfWork
from tests.unit.orchestrator.journey_harness import TENANT, Journeys

HOLD = timedelta(seconds=30)
ONE_MAIL_A_DAY = SendPolicy(caps=(FrequencyCap("email", 1, timedelta(days=1)),), cap_hold=HOLD)


def mailer(journey_id: str, priority: int, pause: str = "") -> str:
    """A journey entered on `carted` that mails at once (or after waiting `pause`)."""
    first = f"  - id: pause\n    wait: {{duration: {pause}}}\n    next: mail\n" if pause else ""
    return f"""
journey: {journey_id}
owner: growth-team
entry: {{event: carted}}
priority: {priority}
steps:
{first}  - id: mail
    send: {{channel: email, template: {journey_id}}}
    next: done
  - id: done
    exit: {{}}
"""


def ledger(j: Journeys) -> dict[str, tuple[SendState, str]]:
    """Per journey, its send's state and reason."""
    with InMemoryOrchestratorUnitOfWork(j.db) as uow:
        entries = uow.send_ledger.capping(TENANT, "p-1", j.clock.now() - timedelta(days=1))
    return {e.journey_id: (e.state, e.reason) for e in entries}


async def test_one_event_enters_the_higher_priority_journey_first() -> None:
    j = Journeys()
    for journey_id, priority in (("a-low", 1), ("m-none", 0), ("z-high", 5)):
        j.publish(mailer(journey_id, priority))
    j.event("p-1", "carted")
    assert [r.journey_id for r in j.send.requests] == ["z-high", "a-low", "m-none"]
    assert [r.priority for r in j.send.requests] == [5, 1, 0]


async def test_the_higher_priority_journey_takes_a_caps_last_slot_though_it_asked_later() -> None:
    j = Journeys(policy=ONE_MAIL_A_DAY)
    low = j.publish(mailer("a-low", 1))  # asks at once
    high = j.publish(mailer("z-high", 5, pause="10s"))  # asks 10 s later, inside the hold
    j.event("p-1", "carted")
    assert ledger(j)["a-low"][0] is SendState.HELD
    await j.advance(timedelta(minutes=5))
    found = ledger(j)
    assert found["z-high"] == (SendState.SENT, "")
    state, reason = found["a-low"]
    assert state is SendState.SUPPRESSED and reason.startswith("frequency_cap: cap email=1/")
    assert j.stats(high)[(1, "mail", "sent")] == 1
    assert j.stats(low)[(1, "mail", "suppressed:frequency_cap")] == 1
    assert (1, "mail", "sent") not in j.stats(low)
