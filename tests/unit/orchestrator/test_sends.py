"""The send service on the in-memory unit of work: guards in order, the ledger, idempotency."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from layercake.orchestrator.v1 import journey_pb2 as pb
from layercake.orchestrator.v1 import send_pb2
from services.kernel.clock import FixedClock
from services.orchestrator import sends
from services.orchestrator.domain.frequency_caps import FrequencyCap, LedgerEntry, SendState
from services.orchestrator.domain.guards import QuietHours
from services.orchestrator.domain.sending import (
    Delayed,
    DelayReason,
    ProfileSnapshot,
    SendOutcome,
    SendRequest,
    Sent,
    Suppressed,
    SuppressionReason,
    step_after,
)
from services.orchestrator.store.memory import InMemoryOrchestratorUnitOfWork, in_memory

NOON = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # 12:00 in Chicago
POLICY = sends.SendPolicy(
    caps=(FrequencyCap("email", 10, timedelta(days=1)),),
    quiet_hours=QuietHours.parse("21:00-08:00"),
    cap_hold=timedelta(seconds=30),
)
ONE_A_DAY = replace(POLICY, caps=(FrequencyCap("email", 1, timedelta(days=1)),))
GRANTED = {"email_marketing": True}
ANN = "ann@example.com"


def request(
    instance: str = "i-1", consent: dict[str, bool] = GRANTED, score: float = 0.5
) -> SendRequest:
    return SendRequest(
        tenant_id="acme",
        instance_id=instance,
        journey_id="cart",
        journey_version=1,
        step_id="remind",
        step=pb.SendStep(channel="email", template="cart-reminder"),
        profile=ProfileSnapshot("p-1", {"email": ANN}, consent, "America/Chicago"),
        decision={"action": "water", "score": score},
    )


class Harness:
    def __init__(self, now: datetime = NOON, policy: sends.SendPolicy = POLICY) -> None:
        self.clock = FixedClock(now)
        self.db = in_memory(self.clock)
        self.policy = policy

    def send(self, req: SendRequest) -> SendOutcome:
        with InMemoryOrchestratorUnitOfWork(self.db) as uow:
            outcome = sends.send(uow, self.policy, req)
            uow.commit()
        return outcome

    def ledger(self, send_id: str) -> LedgerEntry | None:
        return self.db.state.send_ledger.get(("acme", send_id))


def test_a_send_with_consent_outside_quiet_hours_goes_once() -> None:
    h = Harness()
    assert h.send(request()) == Sent("send:i-1:remind")
    assert h.send(request()) == Sent("send:i-1:remind")  # the engine asking again
    entry = h.ledger("send:i-1:remind")
    assert entry is not None and entry.state is SendState.SENT and entry.time == NOON


def test_no_consent_is_suppressed_and_recorded_with_its_reason() -> None:
    h = Harness()
    outcome = h.send(request(consent={"email_marketing": False}))
    assert outcome == Suppressed(SuppressionReason.NO_CONSENT, "email_marketing revoked")
    entry = h.ledger("send:i-1:remind")
    assert entry is not None and entry.state is SendState.SUPPRESSED
    assert entry.reason == "no_consent: email_marketing revoked"
    # asked again, it stays suppressed even if consent came meanwhile: one visit, one outcome
    assert isinstance(h.send(request()), Suppressed)


def test_no_address_for_the_channel_is_suppressed_before_the_delaying_guards() -> None:
    h = Harness(datetime(2026, 3, 2, 4, 0, tzinfo=UTC), policy=ONE_A_DAY)  # 22:00 in Chicago
    nobody = ProfileSnapshot("p-1", {"email": " ", "first_name": "Ann"}, GRANTED, "UTC")
    outcome = h.send(replace(request(), profile=nobody))
    # not delayed by the quiet hours: nobody could receive it in the morning either
    assert outcome == Suppressed(SuppressionReason.NO_ADDRESS, "no email for channel email")
    entry = h.ledger("send:i-1:remind")
    assert entry is not None and entry.state is SendState.SUPPRESSED
    assert entry.reason == "no_address: no email for channel email"
    assert h.db.state.outbox == [], "no send requested of the renderer"
    # no consent is told first; the suppressed send took no slot of the cap
    revoked = replace(nobody, consent={"email_marketing": False})
    assert h.send(replace(request("i-2"), profile=revoked)).reason is SuppressionReason.NO_CONSENT
    h.clock.advance(timedelta(hours=10))
    contest = h.send(request("i-3"))  # the one slot is free: contested, then taken
    assert isinstance(contest, Delayed) and contest.reason is DelayReason.CAP_HOLD
    h.clock.advance(timedelta(seconds=31))
    assert h.send(request("i-3")) == Sent("send:i-3:remind")


def test_quiet_hours_delay_and_the_send_goes_when_asked_again_after_them() -> None:
    h = Harness(datetime(2026, 3, 2, 4, 0, tzinfo=UTC))  # 22:00 in Chicago
    outcome = h.send(request())
    assert outcome == Delayed(datetime(2026, 3, 2, 14, 0, tzinfo=UTC), DelayReason.QUIET_HOURS)
    entry = h.ledger("send:i-1:remind")
    assert entry is not None and entry.state is SendState.DELAYED
    h.clock.advance(timedelta(hours=10))
    assert h.send(request()) == Sent("send:i-1:remind")


def test_a_full_cap_suppresses_another_journeys_send() -> None:
    h = Harness(policy=ONE_A_DAY)
    h.send(request("i-1"))  # holds the only slot
    h.clock.advance(timedelta(seconds=30))
    assert h.send(request("i-1")) == Sent("send:i-1:remind")
    outcome = h.send(request("i-2"))
    assert isinstance(outcome, Suppressed) and outcome.reason is SuppressionReason.FREQUENCY_CAP


def test_the_last_slot_goes_to_the_highest_value_within_the_hold_window() -> None:
    h = Harness(policy=ONE_A_DAY)
    low, high = request("i-low", score=0.2), request("i-high", score=0.9)
    assert h.send(low) == Delayed(NOON + timedelta(seconds=30), DelayReason.CAP_HOLD)
    h.clock.advance(timedelta(seconds=10))
    assert h.send(high) == Delayed(NOON + timedelta(seconds=40), DelayReason.CAP_HOLD)
    h.clock.advance(timedelta(seconds=20))  # the low one's hold ends first: it loses
    lost = h.send(low)
    assert isinstance(lost, Suppressed) and "i-high" in lost.detail
    h.clock.advance(timedelta(seconds=10))
    assert h.send(high) == Sent("send:i-high:remind")


def test_where_the_engine_goes_after_each_outcome() -> None:
    step = pb.Step(id="remind", next="done")
    step.send.alternative = "other"
    out_of_stock = Suppressed(SuppressionReason.OUT_OF_STOCK)
    assert step_after(step, out_of_stock) == "other"
    assert step_after(step, Suppressed(SuppressionReason.NO_CONSENT)) == "done"
    assert step_after(step, Sent("x")) == "done"
    assert step_after(step, Delayed(NOON, DelayReason.QUIET_HOURS)) is None


def test_a_passing_send_asks_the_renderer_once_with_no_trait_values() -> None:
    h = Harness()
    ann = ProfileSnapshot("p-1", {"store_id": "s-1", "email": ANN}, GRANTED, "UTC", 7)
    h.send(replace(request(), profile=ann))
    h.send(request())  # asked again: no second request
    [message] = h.db.state.outbox
    assert message.subject == "layercake.acme.orchestrator.send_requested"
    body = send_pb2.SendRequested.FromString(message.payload)
    assert (body.send_id, body.template_id, body.purpose, body.profile_version) == (
        "send:i-1:remind",
        "cart-reminder",
        "email_marketing",
        7,
    )
    assert body.profile["id"] == "p-1" and body.decision["action"] == "water"
    assert not body.profile["traits"], "no trait value goes into the event log"
    assert ANN.encode() not in message.payload
