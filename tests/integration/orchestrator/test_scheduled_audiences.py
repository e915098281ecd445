"""Scheduled entries of one audience (`entry.schedule.audience`) on a real database (SQLite,
and PostgreSQL when set): the membership kept from identity's AudienceEntered/Exited, merged
and forgotten with the person; each occurrence enters the members `when` admits, a page
per transaction, walking the membership's primary key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from sqlalchemy import insert

from layercake.events.v1 import identity_events_pb2 as ie
from services.kernel.assets import Action
from services.kernel.clock import FixedClock
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.profile_changes import ProfileChange, ProfileForget, ProfilesMerge
from services.kernel.store.database import Database
from services.kernel.timers import TimerScheduler
from services.orchestrator import handlers
from services.orchestrator.bootstrap import MIGRATIONS, build, journey_engine
from services.orchestrator.config import OrchestratorConfig
from services.orchestrator.domain.journeys.schedule import Occurrence
from services.orchestrator.schedule import SCHEDULE_KIND, schedule_timers
from services.orchestrator.store.audience_members import audience_page
from services.orchestrator.store.tables import audience_members
from tests.conftest import SQL_BACKENDS, random_id, sql_database
from tests.integration.harness import explain, publish, running
from tests.integration.orchestrator.journey_support import identity_event, publish_journey
from tests.integration.orchestrator.test_scheduled_entries import (
    DAILY,
    START,
    Units,
    act,
    entered,
    fire_all,
    seed,
    tick_now,
    timer_of,
    units_of,
)
from tests.polling import eventually

VIP = DAILY.replace("time_zone: Europe/Paris}", "time_zone: Europe/Paris, audience: vip}")


def audience_change(tenant: str, profile: str, version: int, member: bool) -> ProfileChange:
    return ProfileChange(tenant, profile, version, audiences={"vip": member})


def member_ids(units: Units, tenant: str) -> list[str]:
    with units() as uow:
        return [s.profile_id for s in audience_page(uow.session, tenant, "vip", "", 100)]


async def test_an_occurrence_enters_the_audiences_members_that_when_admits(
    service_db: Database,
) -> None:
    tenant, journey_id = random_id("t"), random_id("vip-")
    clock = FixedClock(START)
    units = units_of(service_db, clock)
    seed(units, tenant)  # p-000..p-010, consent unless i % 3 == 0
    with units() as uow:
        for i in range(6):
            handlers.record_profile_change(uow, audience_change(tenant, f"p-{i:03}", 2, True))
        handlers.record_profile_change(uow, audience_change(tenant, "p-002", 3, False))
        handlers.record_profile_change(uow, audience_change(tenant, "p-003", 1, False))  # late
        handlers.record_profile_change(uow, audience_change(tenant, "p-900", 2, True))
        uow.commit()
    # p-900: a member identity told nothing else of (no consent, so `when` refuses it)
    assert member_ids(units, tenant) == ["p-000", "p-001", "p-003", "p-004", "p-005", "p-900"]
    engine = journey_engine(OrchestratorConfig())
    scheduler = TimerScheduler(
        service_db, units, {SCHEDULE_KIND: schedule_timers(engine, page_size=2)}, clock
    )
    yaml = VIP.format(journey_id=journey_id)
    act(units, tenant, journey_id, Action.SUBMIT, Action.APPROVE, Action.PUBLISH, yaml=yaml)
    clock.advance(timedelta(hours=1))
    assert await fire_all(scheduler) == 4  # 6 members, 2 a page: the last full, one empty
    counts = entered(units, tenant, journey_id)
    assert counts["entered:schedule"] == counts["entered"] == 3  # p-001, p-004, p-005
    assert timer_of(units, tenant, journey_id) == Occurrence(
        journey_id, 1, datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    )


def test_memberships_follow_merges_and_forgets(service_db: Database) -> None:
    tenant = random_id("t")
    units = units_of(service_db, FixedClock(START))
    with units() as uow:
        handlers.record_profile_change(uow, audience_change(tenant, "p-old", 4, True))
        handlers.record_profile_change(uow, audience_change(tenant, "p-new", 2, False))
        uow.commit()
    with units() as uow:
        handlers.record_profiles_merge(uow, ProfilesMerge(tenant, "p-new", ("p-old",), 5))
        uow.commit()
    assert member_ids(units, tenant) == []  # the survivor's own exit wins
    with units() as uow:
        handlers.record_profile_change(uow, audience_change(tenant, "q-old", 4, True))
        handlers.record_profiles_merge(uow, ProfilesMerge(tenant, "q-new", ("q-old",), 5))
        uow.commit()
    assert member_ids(units, tenant) == ["q-new"]
    with units() as uow:
        handlers.record_profile_forget(uow, ProfileForget(tenant, "q-new", ("q-old",)))
        uow.commit()
    with units() as uow:
        assert uow.audience_members.of_profile(tenant, "q-new") == {}
        assert uow.audience_members.of_profile(tenant, "p-old") == {}
    assert member_ids(units, tenant) == []


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_the_running_service_keeps_the_audience_from_identitys_events(
    backend: str, nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    tenant, journey_id = random_id("t"), random_id("vip-")
    with sql_database(backend, tmp_path, MIGRATIONS) as db:
        env = {"LAYERCAKE_ORCHESTRATOR_DATABASE_URL": db.url}
        async with running("orchestrator", build, nats_server.url, tmp_path, env) as runtime:
            for i in range(4):
                message = ie.AudienceEntered(
                    tenant_id=tenant,
                    profile_id=f"p-{i}",
                    audience_id="vip",
                    audience_version=1,
                    version=2,
                )
                await publish(js, identity_event(tenant, "audience_entered", message))
            gone = ie.AudienceExited(
                tenant_id=tenant, profile_id="p-1", audience_id="vip", audience_version=1, version=3
            )
            await publish(js, identity_event(tenant, "audience_exited", gone))
            assert runtime.context is not None
            units = runtime.context.uow

            async def kept() -> list[str]:
                found = member_ids(units, tenant)
                assert found == ["p-0", "p-2", "p-3"], found
                return found

            await eventually(kept, timeout=30)
            everyone = VIP.format(journey_id=journey_id).replace(
                "when: profile.consent.email_marketing", "when: ''"
            )
            publish_journey(runtime, tenant, everyone)
            await tick_now(units, tenant, journey_id, expected=3)


def test_a_page_of_an_audience_is_a_range_of_its_primary_key(service_db: Database) -> None:
    """Paging costs the same at any depth: a seek to the cursor, each member's contact state
    by its key, not a scan or a sort."""
    units = units_of(service_db, FixedClock(START))
    tenant = random_id("t")
    seed(units, tenant)
    with units() as uow:  # a crowd, so PostgreSQL's planner weighs a real table
        rows = [
            {
                "tenant_id": tenant if i % 2 else random_id("o"),
                "audience_id": "vip" if i % 3 else "churn",
                "profile_id": f"p-{i:05}",
                "member": bool(i % 7),
                "version": 1,
            }
            for i in range(5000)
        ]
        uow.session.execute(insert(audience_members), rows)
        uow.commit()
    with units() as uow:
        page = audience_page(uow.session, tenant, "vip", "p-00001", 3)
    assert [s.profile_id for s in page] == ["p-00005", "p-00011", "p-00013"]

    def run(session: object) -> object:
        return audience_page(session, tenant, "vip", "p-00001", 3)  # type: ignore[arg-type]

    plan = explain(service_db, run, "audience_members")
    if service_db.is_sqlite:
        assert (
            "sqlite_autoindex_audience_members_1 (tenant_id=? AND audience_id=? AND profile_id>?)"
            in plan
        ), plan
        assert "sqlite_autoindex_contact_states_1 (tenant_id=? AND profile_id=?)" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    else:
        assert "audience_members_pkey" in plan and "Seq Scan" not in plan, plan
        assert "Sort" not in plan, plan
