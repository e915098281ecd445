"""Channel feedback on the in-memory unit of work: the ledger's outcome, withdrawn consent,
the run's record of it and its send step's counts."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from layercake.orchestrator.v1 import journey_pb2 as pb
from layercake.orchestrator.v1 import send_pb2
from services.kernel.clock import FixedClock
from services.kernel.profile_changes import ProfileChange, ProfileForget
from services.orchestrator import feedback, handlers, sends
from services.orchestrator.domain.feedback import ChannelFeedback
from services.orchestrator.domain.instances import events as ev
from services.orchestrator.domain.sending import ProfileSnapshot, SendRequest
from services.orchestrator.mapping import INSTANCE_EVENTS
from services.orchestrator.store.memory import InMemoryOrchestratorUnitOfWork, in_memory
from tests.unit.orchestrator.journey_harness import TENANT, Journeys

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
                ProfileSnapshot("p-1", {"email": "ann@example.com"}, {"email_marketing": True}),
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


MAILER = """
journey: mailer
owner: growth-team
entry: {api: {}}
steps:
  - id: mail
    send: {channel: email, template: welcome}
    next: later
  - id: later
    wait: {duration: 1d}
    next: done
  - id: done
    exit: {}
"""


def journey_send() -> tuple[Journeys, str]:
    """A run of `mailer` that sent `mail` and waits at `later`; its send id."""
    j = Journeys(sends.SendPolicy(caps=()))
    j.publish(MAILER)
    j.enter_by_api("mailer", "p-1")
    [request] = j.send.requests
    return j, request.send_id


def feed(j: Journeys, send_id: str, *kinds: str) -> None:
    for kind in kinds:
        with InMemoryOrchestratorUnitOfWork(j.db) as uow:
            feedback.record_feedback(
                uow, ChannelFeedback(TENANT, send_id, "email", "p-1", kind, "", NOW)
            )
            uow.commit()


def test_a_journey_send_step_counts_each_kind_of_feedback_once() -> None:
    j, send_id = journey_send()
    feed(j, send_id, "delivered", "opened", "delivered", "clicked", "opened", "bounced")
    stats = j.stats("mailer")
    counted = {
        k: stats.get((1, "mail", k), 0) for k in ("delivered", "opened", "clicked", "bounced")
    }
    assert counted == {"delivered": 1, "opened": 1, "clicked": 1, "bounced": 1}
    assert stats[(1, "mail", "sent")] == 1


def test_the_run_records_the_feedback_and_stays_where_it_waits() -> None:
    j, send_id = journey_send()
    before = j.instance("mailer", "p-1")
    feed(j, send_id, "opened", "opened")
    after = j.instance("mailer", "p-1")
    assert (after.active, after.step_id, after.wait) == (True, "later", before.wait)
    assert after.feedback_seen == {(send_id, "opened")}
    assert after.version == before.version + 1  # one FeedbackReceived, the repeat adds none
    with InMemoryOrchestratorUnitOfWork(j.db) as uow:
        stored = uow.load(after.stream_id)
    last = INSTANCE_EVENTS.decode(stored[-1], None)
    assert last == ev.FeedbackReceived(1, 1, "mail", send_id, "opened", j.clock.now())


def test_feedback_on_an_unknown_send_changes_nothing_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    j, _ = journey_send()
    before = j.stats("mailer")
    with caplog.at_level(logging.INFO, logger="services.orchestrator.feedback"):
        feed(j, "send:nobody", "opened")
    assert j.stats("mailer") == before
    assert "unknown send send:nobody" in caplog.text


@pytest.mark.parametrize("survivor_inside", [False, True])
def test_feedback_on_a_merged_away_runs_send_counts_once_in_the_step_stats(
    survivor_inside: bool,
) -> None:
    """The merge moves the send to the survivor's ledger and the run to the survivor's
    (continued, or absorbed by the survivor's own run): the report still counts, once."""
    j = Journeys(sends.SendPolicy(caps=()))
    j.publish(MAILER)
    j.enter_by_api("mailer", "p-away")
    if survivor_inside:
        j.enter_by_api("mailer", "p-1")
    send_id = j.send.requests[0].send_id
    feed(j, send_id, "delivered")  # before the merge
    j.merge("p-1", "p-away")
    assert j.db.state.send_ledger[(TENANT, send_id)].profile_id == "p-1"
    feed(j, send_id, "delivered", "opened", "opened")
    stats = j.stats("mailer")
    assert (stats[(1, "mail", "delivered")], stats[(1, "mail", "opened")]) == (1, 1)
    assert j.db.state.send_ledger[(TENANT, send_id)].feedback == "opened"
