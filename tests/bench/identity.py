"""Figure 9: identity resolution consumed from the stream, at a small and a big graph.

Each person sends five events: two cookies, each joined to their user id, the second
join merging the two profiles (one event in five merges), then one more identify. The
identity consumer (the service's own handler, rules cache and projections, one
transaction per fetched batch) resolves them on a SQLite file (or the PostgreSQL schema
of the run) already holding SMALL or BIG identifiers of the same tenant (seeded with bulk
inserts), beside a bare pull consumer reading the same messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf import json_format
from nats.js import JetStreamContext
from sqlalchemy import insert, text

from layercake.events.v1 import ingest_pb2
from services.identity.bootstrap import MIGRATIONS
from services.identity.consumers.ingest import ingest_consumer
from services.identity.ports import IdentityUnitOfWork
from services.identity.rules_cache import RulesCache
from services.identity.segments_cache import SegmentsCache
from services.identity.store.audiences import AudienceProjection
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.projection import ProfileProjection
from services.identity.store.tables import profile_identifiers, profiles
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.kernel.assets.projection import AssetProjection
from services.kernel.clock import SystemClock
from services.kernel.messaging.batch import batch_message
from services.kernel.messaging.consumer import ConsumerRunner, ConsumerSpec, Outcome
from services.kernel.messaging.envelope import Envelope, headers_for
from services.kernel.protobuf import to_timestamp
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.records import OutboxMessage
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.bench.measures import (
    CONSUMER_BATCH,
    STREAM,
    Drain,
    Measure,
    RawConsumer,
    Tick,
    subject,
)

EVENT_INGESTED = ingest_pb2.EventIngested.DESCRIPTOR.full_name
SEED_CHUNK = 50_000
# Events a message: one, so the raw consumer's per-message cost is a per-event cost as
# identity's is (the goal is set so). The gateway writes batches of up to a
# hundred; both meters count events (measures.events_in), so raising this stays honest.
PER_MESSAGE = 1


def _event(tenant: str, n: int) -> bytes:
    """The n-th event: person n // 5, step n % 5 (step 3 merges)."""
    person, step = divmod(n, 5)
    ids: dict[str, object] = {
        0: {"cookie_id": f"c{person}a"},
        1: {"cookie_id": f"c{person}b"},
        2: {"cookie_id": f"c{person}a", "user_id": f"u{person}"},
        3: {"cookie_id": f"c{person}b", "user_id": f"u{person}"},
        4: {"user_id": f"u{person}"},
    }[step]
    event = {
        "message_id": f"m{n}",
        "type": "identify",
        "timestamp": f"2026-03-01T{n % 24:02d}:00:00Z",
        "identifiers": ids,
        "traits": {"plan": ["free", "gold"][n % 2], "visits": n % 7},
    }
    message = ingest_pb2.EventIngested(
        tenant_id=tenant,
        event=json_format.ParseDict(event, ingest_pb2.IngestEvent()),
        receive_time=to_timestamp(datetime.now(UTC)),
    )
    return message.SerializeToString()


async def preload_ingest(
    js: JetStreamContext, tenant: str, count: int, per_message: int = PER_MESSAGE
) -> None:
    """Publishes the events (untimed) where both consumers read them: `per_message` a
    message, as one `EventBatch` when more than one (as the gateway writes INGEST)."""
    futures = []
    for start in range(0, count, per_message):
        records = [
            OutboxMessage(subject(tenant), EVENT_INGESTED, _event(tenant, n), tenant)
            for n in range(start, min(start + per_message, count))
        ]
        now = datetime.now(UTC)
        if per_message == 1:
            headers, body = headers_for(records[0], now), records[0].payload
        else:
            headers, body = batch_message(records, f"batch-{tenant}-{start}", now)
        futures.append(await js.publish_async(subject(tenant), body, headers=headers))
    await asyncio.gather(*futures)


def seed(db: Database, tenant: str, identifiers: int) -> None:
    """`identifiers` cookies on profiles of five each, in bulk (the graph a tenant grew)."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for start in range(0, identifiers, SEED_CHUNK):
        span = range(start, min(start + SEED_CHUNK, identifiers))
        with db.engine.begin() as conn:
            conn.execute(
                insert(profile_identifiers),
                [
                    {
                        "tenant_id": tenant,
                        "id_type": "cookie_id",
                        "id_value": f"seed{n}",
                        "hashed": False,
                        "profile_id": f"seed-p{n // 5}",
                    }
                    for n in span
                ],
            )
            conn.execute(
                insert(profiles),
                [
                    {
                        "tenant_id": tenant,
                        "profile_id": f"seed-p{n // 5}",
                        "version": 3,
                        "traits": "{}",
                        "consent": "{}",
                        "create_time": at,
                        "update_time": at,
                    }
                    for n in span
                    if n % 5 == 0
                ],
            )
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))


class ResolutionConsumer(Drain):
    """The identity service's ingest consumer: fetch(256), resolve each event, one
    transaction per batch (events, projections, outbox, inbox), ack after commit."""

    def __init__(
        self,
        js: JetStreamContext,
        db: Database,
        root: Path,
        tenant: str,
        durable: str,
        tick: Tick,
    ) -> None:
        super().__init__(tick)
        self.keys = SqlProfileKeys.open(f"sqlite:///{root / f'keys-{durable}.db'}")
        uow = UnitOfWorkFactory(
            db.sessions,
            SystemClock(),
            [ProfileProjection(self.keys), AudienceProjection(), AssetProjection()],
            kind=SqlIdentityUnitOfWork.with_keys(self.keys),
        )
        spec = ingest_consumer(
            RulesCache(),
            SegmentsCache(),
            durable=durable,
            stream=STREAM,
            filter_subject=subject(tenant),
        )
        self.applied: set[str] = set()  # the events applied (all of them commit, or it fails)
        self._applying: list[str] = []
        self.runner = ConsumerRunner(self._counting(spec), js, db, uow, batch=CONSUMER_BATCH)

    def _counting(self, spec: ConsumerSpec[IdentityUnitOfWork]) -> ConsumerSpec[IdentityUnitOfWork]:
        """The service's consumer, noting each event it applies, so the meter counts events
        whatever a message carries (an event applied twice, as after a failed batch, once)."""

        def handler(uow: IdentityUnitOfWork, envelope: Envelope) -> None:
            spec.handler(uow, envelope)
            self._applying.append(envelope.event_id)

        return ConsumerSpec(spec.durable, spec.stream, spec.filter_subject, handler, warm=spec.warm)

    async def batch(self) -> int:
        results = await self.runner.run_once(timeout=2.0)
        bad = [r for r in results if r.outcome is not Outcome.APPLIED]
        if bad:
            raise RuntimeError(f"identity consumer: {bad[0]}")
        before = len(self.applied)
        self.applied.update(self._applying)
        self._applying.clear()
        return len(self.applied) - before

    async def round(self, n: int) -> Measure:
        await self.runner.subscribe()
        return await super().round(n)


@contextlib.asynccontextmanager
async def resolution_meters(
    root: Path,
    js: JetStreamContext,
    stored: int,
    events: int,
    bars: tuple[Tick, Tick],
    shared: Database | None = None,
) -> AsyncIterator[tuple[ResolutionConsumer, RawConsumer]]:
    """(resolution, raw fetch+ack) meters over `events` on a graph already holding `stored`:
    on a SQLite file of its own, or on `shared` (a PostgreSQL schema) when given."""
    tenant = f"benchid{uuid.uuid4().hex[:8]}"
    db = shared or Database(f"sqlite:///{root / f'identity-{stored}.db'}")
    name = f"{db.engine.dialect.name}_{stored}"
    try:
        migrate(db.engine, MIGRATIONS)
        seed(db, tenant, stored)
        await preload_ingest(js, tenant, events)
        kernel = ResolutionConsumer(js, db, root, tenant, f"bench_identity_{name}", bars[0])
        try:
            yield kernel, RawConsumer(js, tenant, f"bench_raw_identity_{name}", bars[1])
        finally:
            kernel.keys.close()
    finally:
        if shared is None:
            db.dispose()
