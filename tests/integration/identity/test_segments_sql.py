"""Computed traits and audiences on SQLite and PostgreSQL: windows kept, expiry fired by the
kernel's timer scheduler as a FixedClock moves, members and sizes kept by the projection,
and the member listing read by primary-key range (EXPLAIN)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, text

from layercake.events.v1 import identity_events_pb2 as ie
from layercake.identity.v1 import audience_pb2
from services.identity import handlers, segment_assets
from services.identity.bootstrap import timer_handlers
from services.identity.domain.audience_content import AUDIENCE, read_computed_traits
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.computed_trait_content import ASSET_ID, COMPUTED_TRAITS
from services.identity.rebuild import rebuild_windows
from services.identity.segments_cache import SegmentsCache, live_segments
from services.identity.store.audiences import members_query
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.tables import audience_members, computed_trait_windows
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.kernel.assets import Action, AssetMetadata
from services.kernel.clock import FixedClock
from services.kernel.store.database import Database
from services.kernel.store.schema import outbox
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from services.kernel.timers import TimerScheduler
from services.kernel.timers.schema import timers
from tests.contracts.asset_harness import ANN, BOB, OPS
from tests.integration.identity.conftest import identity_units

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
TENANT = ANN.tenant_id
TRAITS = """
owner: growth
traits:
  - {name: purchases_30d, event: order_completed, aggregation: count, window: 30d}
"""


def factory(
    db: Database, keys: SqlProfileKeys, clock: FixedClock
) -> UnitOfWorkFactory[SqlIdentityUnitOfWork]:
    return identity_units(db, keys, clock=clock)


def published(db: Database, message_type: Any) -> list[Any]:
    with db.transaction() as s:
        rows = s.execute(
            select(outbox.c.payload)
            .where(outbox.c.type == message_type.DESCRIPTOR.full_name)
            .order_by(outbox.c.id)
        )
        return [message_type.FromString(r.payload) for r in rows]


async def test_an_audience_follows_a_window_expiring_on_sql(
    identity_db: Database, identity_keys: SqlProfileKeys
) -> None:
    clock = FixedClock(T0)
    uow = factory(identity_db, identity_keys, clock)
    meta = AssetMetadata(owner="growth", description="d")
    buyers = audience_pb2.Audience(audience_id="buyers", rule="profile.computed.purchases_30d > 1")
    for kind, asset_id, content in (
        (COMPUTED_TRAITS, ASSET_ID, read_computed_traits(TRAITS)[0]),
        (AUDIENCE, "buyers", buyers),
    ):
        with uow() as work:
            segment_assets.apply_segment_asset(work, ANN, kind, asset_id, content, meta)
        for who, action in ((ANN, Action.SUBMIT), (BOB, Action.APPROVE), (OPS, Action.PUBLISH)):
            with uow() as work:
                segment_assets.transition_segment_asset(work, who, kind, asset_id, action)
    scheduler = TimerScheduler(identity_db, uow, timer_handlers(SegmentsCache()), clock)

    def order(message_id: str) -> str:
        with uow() as work:
            command = ApplyIngestedEvent(
                TENANT,
                message_id,
                clock.now(),
                (("user_id", "u1"),),
                event_type="track",
                event_name="order_completed",
            )
            profile = handlers.apply_ingested_event(
                work, command, message_id, segments=live_segments(work, TENANT)
            )
            work.commit()
            return profile.profile_id

    def listed() -> tuple[list[str], int]:
        with uow() as work:
            page = segment_assets.list_members(work, TENANT, "buyers", 10, "")
        return [m.profile_id for m in page.members], page.total_size

    profile_id = order("m1")
    clock.advance(timedelta(days=1))
    order("m2")
    assert listed() == ([profile_id], 1)
    clock.advance(timedelta(days=29))
    await scheduler.run_once()
    assert listed() == ([], 0)
    values = [m.value.json_value for m in published(identity_db, ie.ComputedTraitChanged)]
    assert values == ["1", "2", "1"]
    (exited,) = published(identity_db, ie.AudienceExited)
    assert exited.profile_id == profile_id and exited.audience_version == 1


def test_a_page_of_members_is_a_primary_key_range(identity_db: Database) -> None:
    rows = [  # a tenant with a large audience and another audience beside it
        {
            "tenant_id": TENANT,
            "audience_id": f"a{n % 2}",
            "profile_id": f"p{n:05d}",
            "audience_version": 1,
            "enter_time": T0,
        }
        for n in range(3000)
    ]
    with identity_db.transaction() as s:
        s.execute(insert(audience_members), rows)
    with identity_db.transaction() as s:
        s.execute(text("ANALYZE"))
        dialect = s.get_bind().dialect
        query = members_query(TENANT, "a1", "p01000", 100)
        sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if dialect.name == "sqlite":
            plan = " ".join(r[-1] for r in s.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
            assert "tenant_id=? AND audience_id=? AND profile_id>?" in plan, plan
            assert "TEMP B-TREE" not in plan, plan  # no sort: the key order is the page order
        else:
            plan = " ".join(r[0] for r in s.execute(text(f"EXPLAIN {sql}")))
            assert "audience_members_pkey" in plan, plan
            assert "Sort" not in plan, plan
            cond = re.sub(r"[()]|::text", "", plan.partition("Index Cond:")[2])
            assert "audience_id = 'a1'" in cond and "profile_id > 'p01000'" in cond, plan
            assert "Filter" not in plan, plan


def test_replay_rebuilds_lost_windows_from_the_profiles_streams(
    identity_db: Database, identity_keys: SqlProfileKeys
) -> None:
    clock = FixedClock(T0)
    uow = factory(identity_db, identity_keys, clock)
    traits = TRAITS + (
        "  - {name: spend_30d, event: order_completed, aggregation: sum,"
        " property: properties.total, window: 30d}\n"
    )
    meta = AssetMetadata(owner="growth", description="d")
    content = read_computed_traits(traits)[0]
    with uow() as work:
        segment_assets.apply_segment_asset(work, ANN, COMPUTED_TRAITS, ASSET_ID, content, meta)
    for who, action in ((ANN, Action.SUBMIT), (BOB, Action.APPROVE), (OPS, Action.PUBLISH)):
        with uow() as work:
            segment_assets.transition_segment_asset(work, who, COMPUTED_TRAITS, ASSET_ID, action)
    for n, (user, total) in enumerate([("u1", 10), ("u1", 4.5), ("u2", 7)]):
        with uow() as work:
            command = ApplyIngestedEvent(
                TENANT,
                f"m{n}",
                clock.now(),
                (("user_id", user),),
                event_type="track",
                event_name="order_completed",
                properties={"total": total},
            )
            handlers.apply_ingested_event(
                work, command, f"m{n}", segments=live_segments(work, TENANT)
            )
            work.commit()
        clock.advance(timedelta(hours=1))

    def windows() -> set[tuple[str, str, str]]:
        with identity_db.transaction() as s:
            return {
                (r.profile_id, r.name, r.state) for r in s.execute(select(computed_trait_windows))
            }

    kept, sent = windows(), len(published(identity_db, ie.ComputedTraitChanged))
    assert len(kept) == 4
    with identity_db.transaction() as s:  # lost: a restore without the derived tables
        s.execute(delete(computed_trait_windows))
        s.execute(delete(timers))

    assert rebuild_windows(uow, batch=1) == 2
    assert windows() == kept, "each window rebuilt from the events its profile took"
    assert len(published(identity_db, ie.ComputedTraitChanged)) == sent, "no value changed"
    with identity_db.transaction() as s:
        due = sorted(r.timer_id for r in s.execute(select(timers)))
    assert len(due) == 4, "each rebuilt window expires on time again"
