"""Changes the orchestrator asks identity to make: an unsubscribe withdraws consent, a
journey's update_profile step sets traits. Applied by event time, through merges, with
the audiences following; nothing for an unknown or forgotten profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import struct_pb2

from layercake.events.v1 import identity_events_pb2 as ie
from layercake.events.v1 import orchestrator_events_pb2 as oe
from layercake.orchestrator.v1 import send_pb2
from services.identity import handlers, unmerging
from services.identity.consumers.requests import consent_withdrawn, profile_update_requested
from services.identity.requested_changes import apply_requested_change
from services.identity.segments_cache import live_segments
from services.identity.store.memory import IdentityState, InMemoryIdentityUnitOfWork, in_memory
from services.kernel.clock import FixedClock
from services.kernel.messaging.envelope import Envelope
from services.kernel.protobuf import to_timestamp
from services.kernel.store.memory import InMemoryDatabase
from tests.contracts.asset_harness import ANN
from tests.unit.identity.test_segments import TENANT, audience, ingest, members, published

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
H = timedelta(hours=1)
Db = InMemoryDatabase[IdentityState]


@pytest.fixture
def db() -> Db:
    return in_memory(FixedClock(T0))


def envelope(message: send_pb2.ConsentWithdrawn | oe.ProfileUpdateRequested, n: int) -> Envelope:
    return Envelope(
        event_id=f"req-{n}",
        type=message.DESCRIPTOR.full_name,
        source="orchestrator",
        tenant_id=TENANT,
        time=T0,
        payload=message.SerializeToString(),
        nats_subject=f"layercake.{TENANT}.orchestrator.x",
    )


def unsubscribe(profile_id: str, at: datetime, n: int = 1) -> Envelope:
    return envelope(
        send_pb2.ConsentWithdrawn(
            tenant_id=TENANT,
            profile_id=profile_id,
            purpose="email_marketing",
            channel="email",
            send_id="s1",
            reason="unsubscribed",
            occur_time=to_timestamp(at),
        ),
        n,
    )


def update(profile_id: str, at: datetime, n: int = 1, **traits: object) -> Envelope:
    struct = struct_pb2.Struct()
    struct.update(traits)
    return envelope(
        oe.ProfileUpdateRequested(
            tenant_id=TENANT,
            profile_id=profile_id,
            traits=struct,
            journey_id="welcome",
            journey_version=1,
            step_id="tag",
            request_time=to_timestamp(at),
        ),
        n,
    )


def apply(db: Db, env: Envelope) -> bool:
    change = (
        consent_withdrawn(env)
        if env.type == send_pb2.ConsentWithdrawn.DESCRIPTOR.full_name
        else profile_update_requested(env)
    )
    with InMemoryIdentityUnitOfWork(db) as uow:
        applied = apply_requested_change(uow, change, env.event_id, live_segments(uow, TENANT))
        uow.commit()
    return applied


def profile(db: Db, ref: str) -> tuple[dict[str, bool], dict[str, str], dict[str, str]]:
    with InMemoryIdentityUnitOfWork(db) as uow:
        p = handlers.get_profile(uow, TENANT, ref)
        return p.consent, p.consent_source, {k: v.json_value for k, v in p.traits.items()}


def test_an_unsubscribe_withdraws_consent_and_the_profile_leaves_the_audience(db: Db) -> None:
    audience(db, "emailable", "profile.consent.email_marketing")
    p = ingest(db, "m1", ("cookie_id", "c1"), consent={"email_marketing": True}, at=T0)
    assert members(db, "emailable") == [p.profile_id]

    assert apply(db, unsubscribe(p.profile_id, T0 + H))

    consent, source, _ = profile(db, p.profile_id)
    assert consent == {"email_marketing": False}
    assert source == {"email_marketing": "email:unsubscribed"}
    assert members(db, "emailable") == []
    (exited,) = published(db, ie.AudienceExited)
    assert exited.profile_id == p.profile_id
    updates = published(db, ie.ProfileUpdated)
    assert updates[-1].profile_id == p.profile_id, "followers hear of the withdrawal"


def test_a_later_opt_in_outranks_an_earlier_unsubscribe_whatever_the_arrival_order(
    db: Db,
) -> None:
    p = ingest(db, "m1", ("cookie_id", "c1"), consent={"email_marketing": True}, at=T0 + 2 * H)
    apply(db, unsubscribe(p.profile_id, T0 + H))  # happened before the opt-in: too old
    assert profile(db, p.profile_id)[0] == {"email_marketing": True}


def test_an_unsubscribe_for_a_merged_away_profile_reaches_the_survivor(db: Db) -> None:
    a = ingest(db, "m1", ("cookie_id", "c1"), consent={"email_marketing": True}, at=T0)
    b = ingest(db, "m2", ("cookie_id", "c2"), at=T0 + H)
    survivor = ingest(db, "m3", ("cookie_id", "c1"), ("cookie_id", "c2"), at=T0 + 2 * H)
    merged_away = b.profile_id if survivor.profile_id == a.profile_id else a.profile_id

    assert apply(db, unsubscribe(merged_away, T0 + 3 * H))
    assert profile(db, survivor.profile_id)[0] == {"email_marketing": False}


def test_a_journey_sets_traits_by_event_time(db: Db) -> None:
    p = ingest(db, "m1", ("cookie_id", "c1"), at=T0)
    assert apply(db, update(p.profile_id, T0 + H, 1, tier="gold", visits=3))
    assert profile(db, p.profile_id)[2] == {"tier": '"gold"', "visits": "3"}
    apply(db, update(p.profile_id, T0, 2, tier="silver"))  # older than what is held
    assert profile(db, p.profile_id)[2]["tier"] == '"gold"'


def test_the_same_request_twice_changes_nothing_the_second_time(db: Db) -> None:
    p = ingest(db, "m1", ("cookie_id", "c1"), consent={"email_marketing": True}, at=T0)
    apply(db, unsubscribe(p.profile_id, T0 + H))
    before = len(db.state.outbox)
    apply(db, unsubscribe(p.profile_id, T0 + H))
    assert len(db.state.outbox) == before


def test_nothing_is_applied_to_an_unknown_profile_or_an_unknown_purpose(db: Db) -> None:
    assert not apply(db, unsubscribe("no-such-profile", T0))
    p = ingest(db, "m1", ("cookie_id", "c1"), at=T0)
    weird = send_pb2.ConsentWithdrawn(
        tenant_id=TENANT, profile_id=p.profile_id, purpose="telepathy", channel="x", reason="y"
    )
    assert not apply(db, envelope(weird, 9))
    assert profile(db, p.profile_id)[0] == {}


def test_an_unmerge_keeps_a_withdrawal_with_the_profile_that_was_split(db: Db) -> None:
    ingest(db, "m1", ("cookie_id", "c1"), consent={"email_marketing": True}, at=T0)
    ingest(db, "m2", ("cookie_id", "c2"), at=T0 + H)
    survivor = ingest(db, "m3", ("cookie_id", "c1"), ("cookie_id", "c2"), at=T0 + 2 * H)
    apply(db, unsubscribe(survivor.profile_id, T0 + 3 * H))
    with InMemoryIdentityUnitOfWork(db) as uow:
        kept, split_off = unmerging.unmerge_profile(
            uow, ANN, "cookie_id:c1", ["cookie_id:c2"], "r-1"
        )
    assert kept.profile_id == survivor.profile_id
    assert profile(db, kept.profile_id)[0] == {"email_marketing": False}
    assert profile(db, split_off.profile_id)[0] == {}
