"""Scheduled entries on a real database (SQLite, and PostgreSQL when set): publishing sets
the timer of the next occurrence; each occurrence enters the admitted profiles once, a page
per transaction; pausing holds the schedule, a new version replaces it; two schedulers on
PostgreSQL enter nobody twice."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from sqlalchemy import insert, select

from services.kernel.assets import Action
from services.kernel.assets.projection import AssetProjection
from services.kernel.clock import FixedClock
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.principals import Role
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from services.kernel.timers import TimerScheduler, schedule
from services.kernel.timers.schema import timers
from services.orchestrator import definitions
from services.orchestrator.bootstrap import MIGRATIONS, build, journey_engine
from services.orchestrator.config import OrchestratorConfig
from services.orchestrator.domain.contact_state import ContactState
from services.orchestrator.domain.journeys import read_journey
from services.orchestrator.domain.journeys.schedule import Occurrence
from services.orchestrator.domain.kinds import JOURNEY
from services.orchestrator.schedule import SCHEDULE_KIND, schedule_timer_id, schedule_timers
from services.orchestrator.store.contact_states import contact_state_page
from services.orchestrator.store.tables import contact_states
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork
from tests.conftest import SQL_BACKENDS, random_id, sql_database
from tests.contracts.asset_harness import person
from tests.integration.harness import explain, publish, running
from tests.integration.orchestrator.journey_support import identity_event, publish_journey
from tests.polling import eventually
from tests.profile_events import profile_updated

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday; 08:00 in Paris
PEOPLE = 11
DAILY = """
journey: {journey_id}
description: Every morning at nine in Paris, to those who agreed to email.
owner: growth-team
entry:
  schedule: {{cron: "0 9 * * *", time_zone: Europe/Paris}}
  when: profile.consent.email_marketing
reentry: {{policy: always}}
steps:
  - id: done
    exit: {{}}
"""

DAILY_MAIL = """
journey: {journey_id}
description: Every morning at nine in Paris, a mail to those who agreed to email.
owner: growth-team
entry:
  schedule: {{cron: "0 9 * * *", time_zone: Europe/Paris}}
  when: profile.consent.email_marketing
reentry: {{policy: always}}
steps:
  - id: mail
    send: {{channel: email, template: daily}}
    next: done
  - id: done
    exit: {{}}
"""

Units = UnitOfWorkFactory[SqlOrchestratorUnitOfWork]


def units_of(db: Database, clock: FixedClock) -> Units:
    return UnitOfWorkFactory(
        db.sessions, clock, [AssetProjection()], kind=SqlOrchestratorUnitOfWork
    )


def seed(units: Units, tenant: str) -> int:
    """PEOPLE contact states, every third without consent; returns how many consent."""
    with units() as uow:
        for i in range(PEOPLE):
            state = ContactState(
                tenant, f"p-{i:03}", 1, {"email_marketing": i % 3 != 0}, "", uow.now()
            )
            uow.contact_states.merge(tenant, state.profile_id, lambda _, s=state: s)
        uow.commit()
    return sum(1 for i in range(PEOPLE) if i % 3 != 0)


def act(units: Units, tenant: str, journey_id: str, *actions: Action, yaml: str = "") -> None:
    ann = person("ann", Role.EDITOR, tenant=tenant)
    who = {
        Action.SUBMIT: ann,
        Action.APPROVE: person("cat", Role.APPROVER, tenant=tenant),
    }
    ops = person("ops", Role.OPERATOR, tenant=tenant)
    if yaml:
        content, metadata = read_journey(yaml)
        with units() as uow:
            definitions.apply_definition(uow, ann, JOURNEY, journey_id, content, metadata)
    for action in actions:
        with units() as uow:
            definitions.transition_definition(
                uow, who.get(action, ops), JOURNEY, journey_id, action
            )


def timer_of(units: Units, tenant: str, journey_id: str) -> Occurrence | None:
    with units() as uow:
        row = uow.session.execute(
            select(timers.c.payload, timers.c.kind).where(
                timers.c.tenant_id == tenant, timers.c.timer_id == schedule_timer_id(journey_id)
            )
        ).first()
    if row is None:
        return None
    assert row.kind == SCHEDULE_KIND
    return Occurrence.parse(row.payload)


def entered(units: Units, tenant: str, journey_id: str) -> dict[str, int]:
    with units() as uow:
        counts = uow.instance_records.counts(tenant, journey_id)
    found: Counter[str] = Counter()
    for c in counts:
        if c.step_id == "":  # every version's
            found[c.metric] += c.count
    return dict(found)


async def tick_now(units: Units, tenant: str, journey_id: str, expected: int) -> datetime:
    """The cron's tick, now rather than at nine, for the running service's scheduler; waits
    until `expected` people entered. Returns the tick's time."""
    with units() as uow:
        now = uow.now()
        tick = Occurrence(journey_id, 1, now).payload()
        timer_id = schedule_timer_id(journey_id)
        schedule(uow, timer_id, now, tick, tenant_id=tenant, kind=SCHEDULE_KIND)
        uow.commit()

    async def all_entered() -> dict[str, int]:
        counts = entered(units, tenant, journey_id)
        assert counts.get("entered:schedule") == expected, counts
        return counts

    await eventually(all_entered, timeout=30)
    return now


async def fire_all(scheduler: TimerScheduler) -> int:
    """Fires until nothing is due; returns how many timers fired (one per page)."""
    fired = 0
    while results := await scheduler.run_once():
        fired += len(results)
    return fired


async def test_each_occurrence_enters_the_admitted_profiles_once_a_page_at_a_time(
    service_db: Database,
) -> None:
    tenant, journey_id = random_id("t"), random_id("daily-")
    clock = FixedClock(START)
    units = units_of(service_db, clock)
    handler = {SCHEDULE_KIND: schedule_timers(journey_engine(OrchestratorConfig()), page_size=4)}
    scheduler = TimerScheduler(service_db, units, handler, clock)
    consenting = seed(units, tenant)
    yaml = DAILY.format(journey_id=journey_id)
    act(units, tenant, journey_id, Action.SUBMIT, Action.APPROVE, Action.PUBLISH, yaml=yaml)

    first = timer_of(units, tenant, journey_id)
    assert first == Occurrence(journey_id, 1, datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    assert await fire_all(scheduler) == 0  # not yet due
    clock.advance(timedelta(hours=1))
    assert await fire_all(scheduler) == 3  # 11 people, 4 a page
    assert entered(units, tenant, journey_id)["entered:schedule"] == consenting
    assert timer_of(units, tenant, journey_id) == Occurrence(
        journey_id, 1, datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    )

    act(units, tenant, journey_id, Action.PAUSE)  # pausing holds the schedule
    assert timer_of(units, tenant, journey_id) is None
    clock.advance(timedelta(days=1, hours=2))
    act(units, tenant, journey_id, Action.RESUME)  # the next occurrence from now
    assert timer_of(units, tenant, journey_id) == Occurrence(
        journey_id, 1, datetime(2026, 3, 4, 8, 0, tzinfo=UTC)
    )

    v2 = yaml.replace('"0 9 * * *"', '"30 18 * * *"')  # a new version replaces the schedule
    act(units, tenant, journey_id, Action.SUBMIT, Action.APPROVE, Action.PUBLISH, yaml=v2)
    assert timer_of(units, tenant, journey_id) == Occurrence(
        journey_id, 2, datetime(2026, 3, 3, 17, 30, tzinfo=UTC)
    )
    clock.advance(timedelta(hours=8))
    assert await fire_all(scheduler) == 3
    assert entered(units, tenant, journey_id)["entered:schedule"] == 2 * consenting

    act(units, tenant, journey_id, Action.ARCHIVE)
    assert timer_of(units, tenant, journey_id) is None


async def test_two_schedulers_on_one_database_enter_nobody_twice(service_db: Database) -> None:
    """On PostgreSQL the replicas' claims skip each other's rows; SQLite runs one scheduler
    per database, so there the two take turns (the same guarantee, less contention)."""
    tenant, journey_id = random_id("t"), random_id("daily-")
    clock = FixedClock(START)
    units = units_of(service_db, clock)
    consenting = seed(units, tenant)
    act(
        units,
        tenant,
        journey_id,
        Action.SUBMIT,
        Action.APPROVE,
        Action.PUBLISH,
        yaml=DAILY.format(journey_id=journey_id),
    )
    clock.advance(timedelta(hours=1))
    engine = journey_engine(OrchestratorConfig())
    schedulers = [
        TimerScheduler(
            service_db,
            units,
            {SCHEDULE_KIND: schedule_timers(engine, page_size=2)},
            clock,
            owner=f"replica-{n}",
        )
        for n in range(2)
    ]
    if service_db.url.startswith("sqlite"):
        fired = [await fire_all(s) for s in schedulers]
    else:
        fired = list(await asyncio.gather(*(fire_all(s) for s in schedulers)))
    assert sum(fired) == 6  # 11 people, 2 a page: each page once
    counts = entered(units, tenant, journey_id)
    assert counts["entered:schedule"] == counts["entered"] == consenting


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_an_occurrence_enters_the_people_identity_reported_through_the_running_service(
    backend: str, nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    """The service as it runs: contact states from identity's events over NATS, the
    schedule timer fired by the runtime's scheduler (two replicas on PostgreSQL); the
    journey mails those identity holds an email for (sealed: known by name only) and
    suppresses the others' mail `no_address` at its guard."""
    tenant, journey_id = random_id("t"), random_id("daily-")
    replicas = 2 if backend == "postgres" else 1
    with sql_database(backend, tmp_path, MIGRATIONS) as db:
        env = {"LAYERCAKE_ORCHESTRATOR_DATABASE_URL": db.url}
        async with contextlib.AsyncExitStack() as stack:
            runtimes = [
                await stack.enter_async_context(
                    running("orchestrator", build, nats_server.url, tmp_path / f"r{n}", env)
                )
                for n in range(replicas)
            ]
            first = runtimes[0]
            for i in range(PEOPLE):
                change = profile_updated(
                    tenant, f"p-{i:03}", 1, consent={"email_marketing": i % 3 != 0}
                )
                if i % 2 == 0:  # 4 of the 7 who consent
                    change.sealed_traits["email"].sealed_json_value = b"sealed"
                await publish(js, identity_event(tenant, "profile_updated", change))
            assert first.context is not None
            units = first.context.uow

            async def reported() -> int:
                with units() as uow:
                    found = len(contact_state_page(uow.session, tenant, "", 100))
                assert found == PEOPLE, found
                return found

            await eventually(reported, timeout=30)
            publish_journey(first, tenant, DAILY_MAIL.format(journey_id=journey_id))
            now = await tick_now(units, tenant, journey_id, expected=7)
            next_one = timer_of(units, tenant, journey_id)
            assert next_one is not None and next_one.time > now and next_one.after == ""
            with units() as uow:
                counts = uow.instance_records.counts(tenant, journey_id)
                unsent = uow.send_ledger.capping(tenant, "p-001", datetime.min.replace(tzinfo=UTC))
    mail = {c.metric: c.count for c in counts if c.step_id == "mail"}
    assert (mail["sent"], mail["suppressed:no_address"]) == (4, 3), mail
    assert [e.reason for e in unsent] == ["no_address: no email for channel email"]


def test_a_page_of_the_audience_is_a_range_of_the_primary_key(service_db: Database) -> None:
    """Paging costs the same at any depth: a seek to the cursor, not a scan or a sort."""
    clock = FixedClock(START)
    units = units_of(service_db, clock)
    tenant = random_id("t")
    seed(units, tenant)
    with units() as uow:  # a crowd, so PostgreSQL's planner weighs a real table
        rows = [
            {
                "tenant_id": tenant if i % 2 else random_id("o"),
                "profile_id": f"q-{i:05}",
                "profile_version": 1,
                "consent": {},
                "time_zone": "",
                "update_time": START,
                "field_versions": {},
            }
            for i in range(5000)
        ]
        uow.session.execute(insert(contact_states), rows)
        uow.commit()
    with units() as uow:
        page = contact_state_page(uow.session, tenant, "p-003", 4)
    assert [s.profile_id for s in page] == ["p-004", "p-005", "p-006", "p-007"]
    plan = explain(
        service_db, lambda s: contact_state_page(s, tenant, "p-003", 4), "contact_states"
    )
    if service_db.is_sqlite:
        assert "sqlite_autoindex_contact_states_1 (tenant_id=? AND profile_id>?)" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    else:
        assert "contact_states_pkey" in plan and "Seq Scan" not in plan, plan
        assert "Sort" not in plan, plan
