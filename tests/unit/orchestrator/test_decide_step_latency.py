"""A decide step's wait for the decision service is observed in a histogram, by how the
step ended (decided, or its fallback's reason)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from services.kernel.errors import NotFound
from services.orchestrator import timers
from services.orchestrator.domain.instances.steps import RunTimer
from tests.orchestrator_fakes import FakeDecider

RUN = RunTimer("j-1", "p-1", 1, "choose", io="decide", placement="drinks", timeout=1.0)


def observed(outcome: str) -> float:
    found = REGISTRY.get_sample_value(
        "layercake_orchestrator_decide_step_seconds_count", {"outcome": outcome}
    )
    return found or 0.0


async def test_each_decide_step_is_observed_by_how_it_ended() -> None:
    decider = FakeDecider()
    decider.action = "water"
    before = {o: observed(o) for o in ("decided", "no_action", "unavailable")}
    assert (await timers.decide(decider, "acme", RUN)).decision is not None
    decider.error = NotFound("no eligible action")
    assert (await timers.decide(decider, "acme", RUN)).fallback_reason == "no_action"
    assert (await timers.decide(None, "acme", RUN)).fallback_reason == "unavailable"
    assert {o: observed(o) - n for o, n in before.items()} == {
        "decided": 1,
        "no_action": 1,
        "unavailable": 1,
    }
