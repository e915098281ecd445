"""Channel feedback on the in-memory unit of work: the ledger's outcome, withdrawn consent."""

from __future__ import annotations

from datetime import UTC, datetime

from layercake.orchestrator.v1 import journey_pb2 as pb
from layercake.orchestrator.v1 import send_pb2
from services.kernel.clock import FixedClock
from services.kernel.profile_changes import ProfileChange, ProfileForget
from services.orchestrator import feedback, handlers, sends
from services.orchestrator.domain.feedback import ChannelFeedback
from services.orchestrator.domain.sending import ProfileSnapshot, SendRequest
from services.orchestrator.store.memory import InMemoryOrchestratorUnitOfWork, in_memory

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
SEND_ID = "send:i-1:remind"


def report(kind: str) -> ChannelFeedback:
    return ChannelFeedback("acme", SEND_ID, "email", "p-1", kind, "", NOW)


class Harness:
    def __init__(self) -> None:
        self.db = in_memory(FixedClock(NOW))
        with InMemoryOrchestratorUnitOfWork(self.db) as uow:
            change = ProfileChange("acme", "p-1", 4, consent={"email_marketing": True})
            handlers.record_profile_change(uow, change)
            request = SendRequest(
                "acme",
                "i-1",
                "cart",
                1,
                "remind",
                pb.SendStep(channel="email", template="t"),
                ProfileSnapshot("p-1", {}, {"email_marketing": True}),
            )
            sends.send(uow, sends.SendPolicy(caps=()), request)
            uow.commit()

    def feed(self, *kinds: str) -> None:
        for kind in kinds:
            with InMemoryOrchestratorUnitOfWork(self.db) as uow:
                feedback.record_feedback(uow, report(kind))
                uow.commit()


def test_the_ledger_keeps_the_greatest_outcome() -> None:
    h = Harness()
    h.feed("opened", "delivered")
    assert h.db.state.send_ledger[("acme", SEND_ID)].feedback == "opened"
    h.feed("clicked")
    assert h.db.state.send_ledger[("acme", SEND_ID)].feedback == "clicked"


def test_an_unsubscribe_withdraws_consent_until_identity_grants_it_again() -> None:
    h = Harness()
    h.feed("unsubscribed")
    state = h.db.state.contact_states[("acme", "p-1")]
    assert state.consent["email_marketing"] is False
    withdrawn = [m for m in h.db.state.outbox if m.subject.endswith("consent_withdrawn")]
    [message] = withdrawn
    body = send_pb2.ConsentWithdrawn.FromString(message.payload)
    assert (body.profile_id, body.purpose, body.reason) == (
        "p-1",
        "email_marketing",
        "unsubscribed",
    )
    with InMemoryOrchestratorUnitOfWork(h.db) as uow:
        # identity's older news does not undo it; a newer grant does
        stale = ProfileChange("acme", "p-1", 4, consent={"email_marketing": True})
        assert not handlers.record_profile_change(uow, stale)
        newer = ProfileChange("acme", "p-1", 5, consent={"email_marketing": True})
        assert handlers.record_profile_change(uow, newer)
        uow.commit()
    assert h.db.state.contact_states[("acme", "p-1")].consent["email_marketing"] is True


def test_forgetting_the_person_erases_their_sends() -> None:
    h = Harness()
    with InMemoryOrchestratorUnitOfWork(h.db) as uow:
        assert handlers.record_profile_forget(uow, ProfileForget("acme", "p-1", ()))
        uow.commit()
    assert not h.db.state.send_ledger and not h.db.state.contact_states
