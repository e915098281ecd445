"""Computed traits and audiences through identity's handlers on the in-memory unit of work:
as events arrive, as windows expire (the clock moved, the due timers fired), through
merges, on publish (backfill) and archive. No database, no sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from layercake.events.v1 import identity_events_pb2 as ie
from layercake.identity.v1 import audience_pb2
from services.identity import handlers, segment_assets, segmenting
from services.identity.backfill import backfill_audience
from services.identity.domain.audience_content import (
    AUDIENCE,
    read_audience,
    read_computed_traits,
)
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.computed_trait_content import ASSET_ID, COMPUTED_TRAITS
from services.identity.domain.profile import Profile
from services.identity.segments_cache import live_segments
from services.identity.store.memory import IdentityState, InMemoryIdentityUnitOfWork, in_memory
from services.kernel.assets import Action, AssetKind, AssetMetadata
from services.kernel.clock import FixedClock
from services.kernel.errors import InvalidArgument, NotFound
from services.kernel.store.memory import InMemoryDatabase
from services.kernel.timers import Timer
from tests.contracts.asset_harness import ANN, BOB, OPS, person

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
BATCH = 4
TENANT = ANN.tenant_id
Db = InMemoryDatabase[IdentityState]
TRAITS = """
owner: growth
traits:
  - {name: purchases_30d, event: order_completed, aggregation: count, window: 30d}
  - {name: spend_30d, event: order_completed, aggregation: sum, property: properties.total,
     window: 30d}
"""


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def db(clock: FixedClock) -> Db:
    return in_memory(clock)


def publish(db: Db, kind: AssetKind, asset_id: str, content: Message) -> None:
    meta = AssetMetadata(owner="growth", description="test")
    with InMemoryIdentityUnitOfWork(db) as uow:
        segment_assets.apply_segment_asset(uow, ANN, kind, asset_id, content, meta)
    for who, action in ((ANN, Action.SUBMIT), (BOB, Action.APPROVE), (OPS, Action.PUBLISH)):
        with InMemoryIdentityUnitOfWork(db) as uow:
            segment_assets.transition_segment_asset(uow, who, kind, asset_id, action)


def audience(db: Db, audience_id: str, rule: str) -> None:
    publish(db, AUDIENCE, audience_id, audience_pb2.Audience(audience_id=audience_id, rule=rule))


def order(db: Db, message_id: str, *ids: tuple[str, str], total: float = 10, **kw: Any) -> Profile:
    return ingest(db, message_id, *ids, event="order_completed", properties={"total": total}, **kw)


def ingest(
    db: Db,
    message_id: str,
    *ids: tuple[str, str],
    event: str = "",
    properties: dict[str, Any] | None = None,
    consent: dict[str, bool] | None = None,
    at: datetime | None = None,
) -> Profile:
    command = ApplyIngestedEvent(
        TENANT,
        message_id,
        at or db.clock.now(),
        ids,
        consent=consent or {},
        event_type="track" if event else "identify",
        event_name=event,
        properties=properties or {},
    )
    with InMemoryIdentityUnitOfWork(db) as uow:
        segments = live_segments(uow, TENANT)
        profile = handlers.apply_ingested_event(uow, command, message_id, segments=segments)
        uow.commit()
    return profile


def fire_due(db: Db) -> int:
    """Fires the due timers as the kernel's scheduler would, each in its own unit of work."""
    fired = 0
    while due := sorted(
        (at, key) for key, (at, _) in db.state.timers.items() if at <= db.clock.now()
    ):
        _, (tenant, timer_id) = due[0]
        with InMemoryIdentityUnitOfWork(db) as uow:
            at, payload = uow.state.timers.pop((tenant, timer_id))
            timer = Timer(f"t{fired}", tenant, timer_id, "kind", at, payload)
            if timer_id.startswith("audience-backfill/"):
                backfill_audience(uow, timer, batch_size=BATCH)
            else:
                segmenting.expire_window(uow, timer, live_segments(uow, tenant))
            uow.commit()
        fired += 1
    return fired


def published(db: Db, message_type: type[Message]) -> list[Any]:
    name = message_type.DESCRIPTOR.full_name
    return [message_type.FromString(m.payload) for m in db.state.outbox if m.type == name]


def computed(db: Db, name: str) -> list[str | None]:
    return [
        m.value.json_value if m.HasField("value") else None
        for m in published(db, ie.ComputedTraitChanged)
        if m.name == name
    ]


def members(db: Db, audience_id: str, tenant: str = TENANT) -> list[str]:
    with InMemoryIdentityUnitOfWork(db) as uow:
        page = segment_assets.list_members(uow, tenant, audience_id, 1000, "")
    return [m.profile_id for m in page.members]


def test_a_computed_trait_follows_events_and_the_window_expiring(db: Db, clock: FixedClock) -> None:
    publish(db, COMPUTED_TRAITS, ASSET_ID, read_computed_traits(TRAITS)[0])
    audience(db, "buyers", "profile.computed.purchases_30d >= 2")
    assert fire_due(db) == 1  # its backfill: no profile yet
    first = order(db, "m1", ("user_id", "u1"), total=10)
    clock.advance(DAY)
    order(db, "m2", ("user_id", "u1"), total=2.5)
    assert computed(db, "purchases_30d") == ["1", "2"]
    assert computed(db, "spend_30d") == ["10", "12.5"]
    (entered,) = published(db, ie.AudienceEntered)
    assert (entered.profile_id, entered.audience_id) == (first.profile_id, "buyers")
    assert members(db, "buyers") == [first.profile_id]

    clock.advance(29 * DAY - timedelta(seconds=1))
    assert fire_due(db) == 0  # the first order is still inside its 30 days
    clock.advance(timedelta(seconds=1))
    assert fire_due(db) == 2  # both traits' windows lose the first order
    assert computed(db, "purchases_30d")[-1] == "1"
    assert computed(db, "spend_30d")[-1] == "2.5"
    (exited,) = published(db, ie.AudienceExited)
    assert exited.profile_id == first.profile_id and exited.exit_time.ToDatetime(UTC) == clock.now()
    assert members(db, "buyers") == []

    clock.advance(DAY)
    fire_due(db)
    assert computed(db, "purchases_30d")[-1] == "0"
    assert db.state.timers == {} and db.state.windows == {}  # empty windows are dropped
    versions = [m.version for m in published(db, ie.ComputedTraitChanged)]
    assert versions == sorted(versions)  # each carries its own version in the stream


def test_late_and_out_of_window_events(db: Db, clock: FixedClock) -> None:
    publish(db, COMPUTED_TRAITS, ASSET_ID, read_computed_traits(TRAITS)[0])
    clock.advance(40 * DAY)
    order(db, "old", ("user_id", "u1"), at=T0)  # 40 days late: outside the window
    assert computed(db, "purchases_30d") == []
    order(db, "late", ("user_id", "u1"), at=clock.now() - 29 * DAY)  # late, but inside
    assert computed(db, "purchases_30d") == ["1"]
    clock.advance(DAY)
    fire_due(db)
    assert computed(db, "purchases_30d") == ["1", "0"]


def test_windows_of_merged_profiles_combine_in_the_survivor(db: Db) -> None:
    publish(db, COMPUTED_TRAITS, ASSET_ID, read_computed_traits(TRAITS)[0])
    audience(db, "buyers", "profile.computed.purchases_30d >= 2")
    a = order(db, "m1", ("cookie_id", "c1"))
    b = order(db, "m2", ("cookie_id", "c2"))
    assert members(db, "buyers") == []
    survivor = ingest(db, "m3", ("cookie_id", "c1"), ("cookie_id", "c2"))
    assert survivor.profile_id in (a.profile_id, b.profile_id)
    assert survivor.computed["purchases_30d"].json_value == "2"
    assert members(db, "buyers") == [survivor.profile_id]
    assert {p for _, p, _ in db.state.windows} == {survivor.profile_id}  # moved, not copied
    assert sorted(t for _, t in db.state.timers if t.startswith("computed/")) == [
        f"computed/{survivor.profile_id}/purchases_30d",
        f"computed/{survivor.profile_id}/spend_30d",
    ]


def test_a_profile_in_an_audience_that_is_merged_away_exits_it(db: Db) -> None:
    audience(db, "emailable", "profile.consent.email_marketing")
    a = ingest(db, "m1", ("cookie_id", "c1"), consent={"email_marketing": True})
    clock_later = T0 + DAY
    b = ingest(db, "m2", ("cookie_id", "c2"), consent={"email_marketing": True}, at=clock_later)
    assert sorted(members(db, "emailable")) == sorted([a.profile_id, b.profile_id])
    survivor = ingest(db, "m3", ("cookie_id", "c1"), ("cookie_id", "c2"))
    assert members(db, "emailable") == [survivor.profile_id]
    (exited,) = published(db, ie.AudienceExited)
    assert exited.profile_id != survivor.profile_id


def test_no_consent_decision_is_not_granted(db: Db) -> None:
    audience(db, "emailable", "profile.consent.email_marketing")
    audience(db, "not-emailable", "!profile.consent.email_marketing")
    p = ingest(db, "m1", ("cookie_id", "c1"))
    assert members(db, "emailable") == [] and members(db, "not-emailable") == [p.profile_id]
    ingest(db, "m2", ("cookie_id", "c1"), consent={"email_marketing": True})
    assert members(db, "emailable") == [p.profile_id] and members(db, "not-emailable") == []


def test_publishing_an_audience_backfills_existing_profiles_in_batches(db: Db) -> None:
    made = [ingest(db, f"m{n}", ("user_id", f"u{n}")).profile_id for n in range(BATCH + 3)]
    audience(db, "everyone", 'profile.id != ""')
    assert members(db, "everyone") == []  # nothing on the hot path of publishing
    assert fire_due(db) == 2  # two batches
    assert sorted(members(db, "everyone")) == sorted(made)
    with InMemoryIdentityUnitOfWork(db) as uow:
        first = segment_assets.list_members(uow, TENANT, "everyone", 3, "")
        second = segment_assets.list_members(uow, TENANT, "everyone", 3, first.next_page_token)
        last = segment_assets.list_members(uow, TENANT, "everyone", 0, second.next_page_token)
    assert first.total_size == BATCH + 3
    pages = [m.profile_id for p in (first, second, last) for m in p.members]
    assert pages == sorted(made) and last.next_page_token == ""

    with InMemoryIdentityUnitOfWork(db) as uow:
        segment_assets.transition_segment_asset(uow, OPS, AUDIENCE, "everyone", Action.ARCHIVE)
    fire_due(db)
    assert members(db, "everyone") == []
    assert len(published(db, ie.AudienceExited)) == BATCH + 3


def test_members_are_listed_in_the_callers_tenant_only(db: Db) -> None:
    audience(db, "emailable", "profile.consent.email_marketing")
    ingest(db, "m1", ("cookie_id", "c1"), consent={"email_marketing": True})
    other = person("eve", tenant="other").tenant_id
    with pytest.raises(NotFound):
        members(db, "emailable", tenant=other)
    with InMemoryIdentityUnitOfWork(db) as uow, pytest.raises(InvalidArgument) as bad:
        segment_assets.list_members(uow, TENANT, "emailable", -1, "")
    assert [v.field for v in bad.value.violations] == ["page_size"]


def test_a_draft_with_a_bad_rule_is_refused_naming_the_field(db: Db) -> None:
    with InMemoryIdentityUnitOfWork(db) as uow, pytest.raises(InvalidArgument) as bad:
        segment_assets.apply_segment_asset(
            uow,
            ANN,
            AUDIENCE,
            "x",
            audience_pb2.Audience(audience_id="x", rule="profile.trait.x == 1"),
            AssetMetadata(owner="o", description="d"),
        )
    assert [v.field for v in bad.value.violations] == ["content.rule"]


def test_the_seed_audience_family_car_intenders(db: Db, clock: FixedClock) -> None:
    examples = Path(__file__).parents[3] / "services/identity/examples"
    traits = read_computed_traits((examples / "computed-traits.yaml").read_text())[0]
    intenders = read_audience((examples / "family-car-intenders.yaml").read_text())[0]
    publish(db, COMPUTED_TRAITS, ASSET_ID, traits)
    publish(db, AUDIENCE, intenders.audience_id, intenders)
    ad = ingest(
        db, "m1", ("cookie_id", "c1"), event="ad_viewed", properties={"category": "minivan"}
    )
    deals = ingest(
        db,
        "m2",
        ("cookie_id", "c2"),
        event="page_viewed",
        properties={"page": "March Madness Deals"},
    )
    ingest(db, "m3", ("cookie_id", "c3"), event="ad_viewed", properties={"category": "suv"})
    ingest(db, "m4", ("cookie_id", "c4"), event="page_viewed", properties={"page": "Home"})
    expected = sorted([ad.profile_id, deals.profile_id])
    assert sorted(members(db, "family-car-intenders")) == expected
    clock.advance(timedelta(days=30))
    fire_due(db)
    assert members(db, "family-car-intenders") == []
