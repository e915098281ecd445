"""Figures 12 and 13: the journey engine in its own consumer and timer paths.

Figure 12, *entries*: ingested `checkout_viewed` events of as many people, published to
the stream, consumed by the orchestrator's ingest consumer (its prepare step asks the
profile directory, in process here, so identity's RPC is not what is measured; one
transaction per fetched batch enters each person into a live journey: the instance's
events, its row, step counts, its wait timer), beside a bare pull consumer reading the
same messages in the same run.

Figure 13, *waits*: people waiting at a journey's `wait` step, their timers due over a
window (100,000 within a minute by default), fired by the kernel's scheduler with the
orchestrator's own handler (prepare: the profile; apply: load the run, walk it on, save);
lag is commit time minus due time. Beside it, a backlog of due journey waits drained,
next to the kernel's no-op timers of figure 4 drained on the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from nats.js import JetStreamContext
from sqlalchemy import bindparam, func, select, update

from layercake.events.v1 import ingest_pb2
from services.kernel.assets import Action
from services.kernel.assets.projection import AssetProjection
from services.kernel.clock import SystemClock
from services.kernel.messaging.consumer import ConsumerRunner, Outcome
from services.kernel.messaging.envelope import headers_for
from services.kernel.principals import Role
from services.kernel.protobuf import to_timestamp
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.records import OutboxMessage
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from services.kernel.timers import Outcome as FireOutcome
from services.kernel.timers import TimerScheduler
from services.kernel.timers.schema import timers
from services.orchestrator import definitions
from services.orchestrator.bootstrap import MIGRATIONS, journey_engine
from services.orchestrator.config import OrchestratorConfig
from services.orchestrator.consumers.ingest import ingest_consumer
from services.orchestrator.domain.instances.instance import instance_stream_id
from services.orchestrator.domain.instances.profiles import ProfileView
from services.orchestrator.domain.journeys import read_journey
from services.orchestrator.domain.kinds import JOURNEY
from services.orchestrator.engine import JourneyEngine
from services.orchestrator.repositories import TIMER_KIND
from services.orchestrator.store.tables import journey_instances
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork
from services.orchestrator.timers import journey_timers
from tests.bench.measures import CONSUMER_BATCH, STREAM, Drain, Measure, Tick, subject
from tests.bench.timers import LagReport, ShiftedClock, fire_over
from tests.contracts.asset_harness import person

EVENT_INGESTED = ingest_pb2.EventIngested.DESCRIPTOR.full_name
ENTRY = """
journey: bench-entries
description: People who view the checkout wait a week, then leave.
owner: bench
entry: {event: checkout_viewed}
steps:
  - id: later
    wait: {duration: 7d}
    next: done
  - id: done
    exit: {}
"""
WAITS = """
journey: bench-waits
description: People entered by API wait, then leave (the bench moves the due times).
owner: bench
entry: {api: {}}
steps:
  - id: later
    wait: {duration: 1h}
    next: done
  - id: done
    exit: {}
"""
ENTER_CHUNK = 500


class Directory:
    """Every `email:p<n>@bench` (or `p<n>`) is profile `p<n>`, with email consent."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant

    async def find(self, tenant_id: str, profile_ref: str) -> ProfileView | None:
        profile_id = profile_ref.removeprefix("email:").removesuffix("@bench")
        return ProfileView(tenant_id, profile_id, {"plan": "gold"}, {"email_marketing": True})

    async def event_ids(self, tenant_id: str, profile_id: str) -> frozenset[str]:
        return frozenset()


def _units(db: Database) -> UnitOfWorkFactory[SqlOrchestratorUnitOfWork]:
    return UnitOfWorkFactory(
        db.sessions, SystemClock(), [AssetProjection()], kind=SqlOrchestratorUnitOfWork
    )


def publish_journey(
    units: UnitOfWorkFactory[SqlOrchestratorUnitOfWork], tenant: str, text: str
) -> None:
    """Saves, submits, approves and publishes it, four-eyes, in the store."""
    ann = person("ann", Role.EDITOR, tenant=tenant)
    cat = person("cat", Role.APPROVER, tenant=tenant)
    ops = person("ops", Role.OPERATOR, tenant=tenant)
    content, metadata = read_journey(text)
    with units() as uow:
        definitions.apply_definition(uow, ann, JOURNEY, content.journey_id, content, metadata)
    for who, action in ((ann, Action.SUBMIT), (cat, Action.APPROVE), (ops, Action.PUBLISH)):
        with units() as uow:
            definitions.transition_definition(uow, who, JOURNEY, content.journey_id, action)


def _event(tenant: str, n: int) -> bytes:
    event = {
        "message_id": f"m{n}",
        "type": "track",
        "event": "checkout_viewed",
        "timestamp": "2026-03-01T12:00:00Z",
        "identifiers": {"email": f"p{n}@bench"},
        "properties": {"total": float(n % 90)},
        "context": {"weather": {"temperature_c": 21.0}, "location": {"region": "coast"}},
    }
    message = ingest_pb2.EventIngested(
        tenant_id=tenant,
        event=json_format.ParseDict(event, ingest_pb2.IngestEvent()),
        receive_time=to_timestamp(datetime.now(UTC)),
    )
    return message.SerializeToString()


async def preload_events(js: JetStreamContext, tenant: str, count: int) -> None:
    """Publishes the events (untimed) where both consumers read them."""
    futures = []
    for n in range(count):
        record = OutboxMessage(subject(tenant), EVENT_INGESTED, _event(tenant, n), tenant)
        headers = headers_for(record, datetime.now(UTC))
        futures.append(await js.publish_async(record.subject, record.payload, headers=headers))
    await asyncio.gather(*futures)


class EntryConsumer(Drain):
    """The orchestrator's ingest consumer: fetch(256), the directory asked per event, one
    transaction per batch entering each person, ack after commit."""

    def __init__(
        self, js: JetStreamContext, db: Database, tenant: str, durable: str, tick: Tick
    ) -> None:
        super().__init__(tick)
        units = _units(db)
        engine = journey_engine(OrchestratorConfig())
        spec = ingest_consumer(engine, Directory(tenant), ServiceLayer(db, units))
        spec = dataclasses.replace(
            spec, durable=durable, stream=STREAM, filter_subject=subject(tenant)
        )
        self.runner = ConsumerRunner(spec, js, db, units, batch=CONSUMER_BATCH)

    async def batch(self) -> int:
        results = await self.runner.run_once(timeout=2.0)
        bad = [r for r in results if r.outcome is not Outcome.APPLIED]
        if bad:
            raise RuntimeError(f"orchestrator ingest consumer: {bad[0]}")
        return len(results)

    async def round(self, n: int) -> Measure:
        await self.runner.subscribe()
        return await super().round(n)


def entered(db: Database, tenant: str) -> int:
    """How many people are inside a journey of the tenant (the figure's check)."""
    t = journey_instances
    with db.transaction() as s:
        stmt = select(func.count()).select_from(t).where(t.c.tenant_id == tenant)
        return int(s.execute(stmt).scalar_one())


@contextlib.asynccontextmanager
async def entry_meters(
    root: Path, js: JetStreamContext, events: int, bars: tuple[Tick, Tick]
) -> AsyncIterator[tuple[EntryConsumer, Database, str]]:
    """The entry consumer over `events` preloaded ingest events, its database and tenant."""
    tenant = f"benchj{uuid.uuid4().hex[:8]}"
    db = Database(f"sqlite:///{root / 'journeys-entries.db'}")
    try:
        migrate(db.engine, MIGRATIONS)
        publish_journey(_units(db), tenant, ENTRY)
        await preload_events(js, tenant, events)
        yield EntryConsumer(js, db, tenant, "bench_journey_entries", bars[0]), db, tenant
    finally:
        db.dispose()


# -- figure 13 -------------------------------------------------------------------------


def enter_waiting(db: Database, engine: JourneyEngine, tenant: str, first: int, count: int) -> None:
    """Enters people p<first>.. by API into the waits journey, in chunked transactions."""
    units = _units(db)
    for start in range(first, first + count, ENTER_CHUNK):
        with units() as uow:
            people = range(start, min(start + ENTER_CHUNK, first + count))
            uow.preload(instance_stream_id(tenant, "bench-waits", f"p{n}") for n in people)
            for n in people:
                profile = ProfileView(tenant, f"p{n}", {}, {"email_marketing": True})
                engine.enter_by_api(uow, "bench-waits", profile, f"r{n}")
            uow.commit()


def spread_due_times(db: Database, tenant: str, first: datetime, window: float) -> int:
    """Moves the tenant's timers to fall due evenly over `window` seconds from `first`."""
    with db.transaction() as s:
        stmt = select(timers.c.id).where(timers.c.tenant_id == tenant).order_by(timers.c.id)
        ids = s.execute(stmt).scalars().all()
        step = window / max(len(ids), 1)
        rows = [{"i": i, "d": first + timedelta(seconds=k * step)} for k, i in enumerate(ids)]
        move = (
            update(timers)
            .where(timers.c.id == bindparam("i"))
            .values(due_time=bindparam("d"), next_try_time=bindparam("d"))
        )
        if rows:
            s.connection().execute(move, rows)
    return len(ids)


class WaitsFixture:
    """A database of people waiting in a journey, and the orchestrator's timer handler."""

    def __init__(self, root: Path, name: str) -> None:
        self.db = Database(f"sqlite:///{root / f'journeys-{name}.db'}")
        migrate(self.db.engine, MIGRATIONS)
        self.tenant = f"benchw{uuid.uuid4().hex[:8]}"
        self.engine = journey_engine(OrchestratorConfig())
        publish_journey(_units(self.db), self.tenant, WAITS)
        self.handler = journey_timers(self.engine, Directory(self.tenant))
        self.people = 0

    def scheduler(self, clock: object, batch: int) -> TimerScheduler:
        units = UnitOfWorkFactory(
            self.db.sessions,
            clock,
            [AssetProjection()],
            kind=SqlOrchestratorUnitOfWork,  # type: ignore[arg-type]
        )
        return TimerScheduler(self.db, units, {TIMER_KIND: self.handler}, clock, batch=batch)  # type: ignore[arg-type]

    async def enter(self, count: int) -> None:
        await self.db.run(enter_waiting, self.db, self.engine, self.tenant, self.people, count)
        self.people += count

    def close(self) -> None:
        self.db.dispose()


class JourneyWaitDrain:
    """A backlog of due journey waits fired by the scheduler with the journey handler."""

    def __init__(self, fixture: WaitsFixture, batch: int, tick: Tick) -> None:
        self.fixture, self.tick = fixture, tick
        self.scheduler = fixture.scheduler(SystemClock(), batch)

    async def round(self, n: int) -> Measure:
        f = self.fixture
        await f.enter(n)
        past = datetime.now(UTC) - timedelta(seconds=1)
        await f.db.run(spread_due_times, f.db, f.tenant, past, 0.0)
        fired = 0
        start = time.perf_counter()
        while fired < n:
            results = await self.scheduler.run_once()
            ok = sum(r.outcome is FireOutcome.FIRED for r in results)
            if ok != len(results) or not results:
                raise RuntimeError(f"journey wait drain stalled at {fired} of {n}: {results[:1]}")
            fired += ok
            self.tick(ok)
        return Measure(fired, time.perf_counter() - start)


async def journey_wait_lag(
    root: Path, count: int, window: float, batch: int, tick: Tick
) -> LagReport:
    """`count` people waiting, their waits due evenly over `window` seconds, fired by the
    scheduler's loop with the orchestrator's handler."""
    fixture = WaitsFixture(root, "lag")
    try:
        await fixture.enter(count)
        clock = ShiftedClock()
        origin = clock.now()
        first = origin + timedelta(seconds=0.5)
        await fixture.db.run(spread_due_times, fixture.db, fixture.tenant, first, window)
        clock.offset = datetime.now(UTC) - origin
        return await fire_over(fixture.scheduler(clock, batch), clock, first, count, window, tick)
    finally:
        fixture.close()


# -- the figures, as run_bench calls them -----------------------------------------------


async def figure_12(report: Any, root: Path, js: JetStreamContext, sizes: Any, steps: Any) -> None:
    """Journey entries from ingested events beside a bare pull consumer, same messages."""
    from tests.bench.harness import Comparison, interleave
    from tests.bench.measures import RawConsumer

    n = sizes.journey_events
    bars = (
        steps.bar("[12] journey entries from ingested events", n),
        steps.bar("[12] raw pull fetch(256)+ack", n),
    )
    async with entry_meters(root, js, n, bars) as (kernel, db, tenant):
        raw = RawConsumer(js, tenant, "bench_raw_journey_entries", bars[1])
        m_kernel, m_raw = await interleave(sizes.rounds, [(kernel, n), (raw, n)])
        inside = await db.run(entered, db, tenant)
    steps.close()
    if inside != n:
        raise RuntimeError(f"figure 12 entered {inside} of {n} people")
    name = "journey entries from ingested events"
    report.comparisons.append(
        Comparison(12, name, "sqlite", m_kernel, "pull fetch(256)+ack", m_raw)
    )


async def figure_13(report: Any, root: Path, sizes: Any, steps: Any) -> None:
    """A backlog of due journey waits drained beside the kernel's no-op timers on the same
    database; then the fire lag of `journey_waits` waits due within `timer_window`."""
    from tests.bench.harness import Comparison, interleave
    from tests.bench.timers import KernelTimerDrain

    n, k = sizes.journey_drain, sizes.timer_batch
    fixture = WaitsFixture(root, "drain")
    try:
        journey = JourneyWaitDrain(fixture, k, steps.bar("[13] journey waits, due backlog", n))
        noop = KernelTimerDrain(fixture.db, k, steps.bar("[13] kernel timers, no-op handler", n))
        m_journey, m_noop = await interleave(sizes.rounds, [(journey, n), (noop, n)])
    finally:
        fixture.close()
    count = sizes.journey_waits
    window = f"[13] {count:,} journey waits due within {sizes.timer_window}s"
    lag = await journey_wait_lag(root, count, sizes.timer_window, k, steps.bar(window, count))
    steps.close()
    name = f"journey waits fired, {k}/tx"
    noop_name = f"kernel timers, no-op handler, {k}/tx"
    report.comparisons.append(Comparison(13, name, "sqlite", m_journey, noop_name, m_noop))
    report.context["journey wait lag (sqlite)"] = lag.describe().replace("timers", "journey waits")
