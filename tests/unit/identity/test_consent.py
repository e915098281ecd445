"""Consent per purpose, with where and when each decision was made, through merges:
the latest explicit decision by event time wins, whichever profile arrived first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from layercake.events.v1 import ingest_pb2
from services.identity import handlers, mapping
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.profile import Profile
from services.identity.store.memory import IdentityState, InMemoryIdentityUnitOfWork, in_memory
from services.kernel.clock import FixedClock
from services.kernel.protobuf import to_timestamp
from services.kernel.store.memory import InMemoryDatabase

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
H = timedelta(hours=1)
Db = InMemoryDatabase[IdentityState]


@pytest.fixture
def db() -> Db:
    return in_memory(FixedClock(T0 + 10 * H))


def decide(
    db: Db, message_id: str, cookie: str, hour: int, source: str, **consent: bool
) -> Profile:
    command = ApplyIngestedEvent(
        "acme",
        message_id,
        T0 + hour * H,
        (("cookie_id", cookie),),
        consent=consent,
        consent_source=source,
    )
    with InMemoryIdentityUnitOfWork(db) as uow:
        profile = handlers.apply_ingested_event(uow, command, message_id)
        uow.commit()
    return profile


def merge(db: Db, *cookies: str, hour: int = 5) -> Profile:
    ids = tuple(("cookie_id", c) for c in cookies)
    with InMemoryIdentityUnitOfWork(db) as uow:
        handlers.apply_ingested_event(
            uow, ApplyIngestedEvent("acme", "mx", T0 + hour * H, ids), "mx"
        )
        uow.commit()
    with InMemoryIdentityUnitOfWork(db) as uow:  # the aggregate, replayed from its stream
        found = handlers.get_profile(uow, "acme", f"cookie_id:{cookies[0]}")
        return uow.profiles.get("acme", found.profile_id)


@pytest.mark.parametrize("first", ["a", "b"])
def test_each_purpose_takes_the_latest_explicit_decision_on_merge(db: Db, first: str) -> None:
    decisions = {
        "a": [("a1", 1, "web", True), ("a2", 3, "web", True)],  # given at 1, given again at 3
        "b": [("b1", 2, "email", False)],  # withdrawn at 2: older than a's latest
    }
    for cookie in (first, "b" if first == "a" else "a"):
        for message_id, hour, source, granted in decisions[cookie]:
            decide(db, message_id, cookie, hour, source, email_marketing=granted)
    decide(db, "b2", "b", 4, "sms", analytics=True)
    survivor = merge(db, "a", "b")
    assert survivor.consent == {"email_marketing": True, "analytics": True}
    assert survivor.consent_time == {"email_marketing": T0 + 3 * H, "analytics": T0 + 4 * H}
    assert survivor.consent_source == {"email_marketing": "web", "analytics": "sms"}


def test_an_older_decision_never_overwrites_and_a_newer_one_moves_the_time(db: Db) -> None:
    decide(db, "m1", "a", 3, "web", email_marketing=True)
    late = decide(db, "m2", "a", 1, "email", email_marketing=False)
    assert late.consent == {"email_marketing": True} and late.consent_source == {
        "email_marketing": "web"
    }
    again = decide(db, "m3", "a", 4, "app", email_marketing=True)
    assert again.consent_time["email_marketing"] == T0 + 4 * H
    assert again.consent_source["email_marketing"] == "app"


def test_the_source_is_the_events_channel_or_api() -> None:
    def command(context: dict[str, object]) -> ApplyIngestedEvent:
        event = ingest_pb2.IngestEvent(message_id="m", type="identify", consent={"analytics": True})
        event.identifiers.update({"cookie_id": "c"})
        event.context.update(context)
        message = ingest_pb2.EventIngested(tenant_id="acme", event=event)
        message.receive_time.CopyFrom(to_timestamp(T0))
        return mapping.command_from_ingested(message.SerializeToString())

    assert command({"channel": "mobile_app"}).consent_source == "mobile_app"
    assert command({}).consent_source == "api"
