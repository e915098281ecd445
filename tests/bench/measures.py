"""Meters: each times one path, the kernel's or the raw limit it is judged against.

A meter measures in rounds (`await meter.round(n)`), so the harness can
interleave a kernel path with its raw limit: a noisy neighbour on a shared
disk then slows both alike instead of skewing their ratio. Only the loop a
round names is timed; setup, preloading and warm-up are outside the clock.
Raw limits use the driver or client directly with the same durability
(SQLite WAL + synchronous=FULL, JetStream sync_interval: always), so a ratio
shows what the kernel itself costs, not what the hardware costs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import Table, create_engine, delete, func, insert, select
from sqlalchemy.orm import Session

from layercake.events.v1 import batch_pb2
from services.kernel.messaging.batch import BATCH_TYPE
from services.kernel.messaging.envelope import headers_for
from services.kernel.messaging.relay import OutboxRelay
from services.kernel.principals import Actor
from services.kernel.store.database import Database, normalise_url
from services.kernel.store.records import EventMetadata, NewEvent, OutboxMessage
from services.kernel.store.schema import events, metadata, outbox
from services.kernel.store.unit_of_work import UnitOfWorkFactory

Tick = Callable[[int], None]
"""Reports progress: called with how many operations just finished."""

EVENT_TYPE = "layercake.bench.v1.Sample"
STREAM = "IDENTITY"
CONSUMER_BATCH = 256
MAX_ACK_PENDING = CONSUMER_BATCH * 4  # what ConsumerRunner configures; raw gets the same
ROUND_DEADLINE = 300.0  # seconds; a consumer that stalls this long fails the bench
WARM_UP = 20  # untimed operations before a meter's first round


def subject(tenant: str) -> str:
    """Bench subjects land in the IDENTITY stream (`layercake.*.identity.>`)."""
    return f"layercake.{tenant}.identity.bench_sample"


@dataclass(frozen=True)
class Measure:
    """`count` operations in `seconds` of wall-clock time; rounds add up."""

    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def __add__(self, other: Measure) -> Measure:
        return Measure(self.count + other.count, self.seconds + other.seconds)


@dataclass(frozen=True)
class Series:
    """A meter's rounds, in order; its rate is over all of them (total count / total time)."""

    rounds: tuple[Measure, ...]

    @property
    def total(self) -> Measure:
        return sum(self.rounds, Measure(0, 0.0))

    @property
    def rate(self) -> float:
        return self.total.rate


class Meter(Protocol):
    """Times `n` more units of work per round (transactions, events or messages)."""

    async def round(self, n: int) -> Measure: ...


def _chunked(tick: Tick, total: int) -> Tick:
    """Calls `tick` about a hundred times over `total` ops, so progress costs nothing."""
    step = max(1, total // 100)
    pending = 0

    def done(n: int) -> None:
        nonlocal pending
        pending += n
        if pending >= step:
            tick(pending)
            pending = 0

    return done


def outbox_message(tenant: str, payload: bytes, event_id: str | None = None) -> OutboxMessage:
    return OutboxMessage(
        subject=subject(tenant),
        type=EVENT_TYPE,
        payload=payload,
        tenant_id=tenant,
        event_id=event_id or str(uuid.uuid4()),
        source="bench",
    )


def envelope_headers(tenant: str, payload: bytes) -> dict[str, str]:
    """The CloudEvents headers the relay sends, so raw publishes carry the same bytes."""
    return headers_for(outbox_message(tenant, payload), datetime.now(UTC))


def count_rows(db: Database, table: Table) -> int:
    def read(session: Session) -> int:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())

    return db.run_sync(read)


# --- 1. database transactions -------------------------------------------------------------


class _RawInserts:
    """Timed transactions of `pairs` event+outbox inserts outside the kernel: rows of the
    same shape, into tables with the same indexes and constraints as `events` and `outbox`
    (created from the kernel's schema), through the driver's `executemany`."""

    pairs: int
    payload: bytes
    tick: Tick
    conn: Any
    placeholder = "?"

    def _one(self) -> None:
        raise NotImplementedError

    def _rows(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Fresh event and outbox rows (new stream and event ids, as the kernel's are)."""
        now = self.time(datetime.now(UTC))
        event_rows, outbox_rows = [], []
        for _ in range(self.pairs):
            event_id = str(uuid.uuid4())
            stream = f"profile-{uuid.uuid4().hex}"
            # columns in table order: stream ... actor, schema version, causation,
            # correlation, trace, time; the outbox's: ... source, subject ref, trace, time
            event = (stream, 1, event_id, EVENT_TYPE, self.payload, "benchappend", "bench")
            event_rows.append((*event, "system", 1, "", "", "", now))
            message = (event_id, subject("benchappend"), EVENT_TYPE, self.payload)
            outbox_rows.append((*message, "benchappend", "bench", "", "", now))
        return event_rows, outbox_rows

    def time(self, value: datetime) -> object:
        return value

    def statements(self) -> tuple[str, str]:
        def insert(table: Table, columns: list[str]) -> str:
            marks = ", ".join([self.placeholder] * len(columns))
            return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"

        return (
            insert(events, [c.name for c in events.c if c.name != "position"]),
            insert(outbox, [c.name for c in outbox.c if c.name != "id"]),
        )

    def _run(self, transactions: int) -> Measure:
        done = _chunked(self.tick, transactions * self.pairs)
        start = time.perf_counter()
        for _ in range(transactions):
            self._one()
            done(self.pairs)
        return Measure(transactions * self.pairs, time.perf_counter() - start)

    async def round(self, n: int) -> Measure:
        """`n` transactions; the measure counts events (each with its outbox row)."""
        return await asyncio.to_thread(self._run, n)

    def close(self) -> None:
        self.conn.close()


class RawSqlite(_RawInserts):
    """Plain sqlite3 with the kernel's pragmas: BEGIN IMMEDIATE, executemany, COMMIT (an fsync)."""

    def __init__(self, path: Path, pairs_per_tx: int, payload: bytes, tick: Tick) -> None:
        self.pairs, self.payload, self.tick = pairs_per_tx, payload, tick
        engine = create_engine(f"sqlite:///{path}")
        metadata.create_all(engine, tables=[events, outbox])
        engine.dispose()
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.sql = self.statements()
        for _ in range(WARM_UP):
            self._one()

    def time(self, value: datetime) -> object:
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy stores it in SQLite

    def _one(self) -> None:
        event_rows, outbox_rows = self._rows()
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(self.sql[0], event_rows)
        self.conn.executemany(self.sql[1], outbox_rows)
        self.conn.execute("COMMIT")


class RawPostgres(_RawInserts):
    """Plain psycopg in its own schema: executemany (pipelined), COMMIT."""

    placeholder = "%s"

    def __init__(self, conninfo: str, pairs_per_tx: int, payload: bytes, tick: Tick) -> None:
        self.pairs, self.payload, self.tick = pairs_per_tx, payload, tick
        engine = create_engine(normalise_url(conninfo))
        metadata.create_all(engine, tables=[events, outbox])
        engine.dispose()
        self.conn = psycopg.connect(conninfo)
        self.sql = self.statements()
        for _ in range(WARM_UP):
            self._one()

    def _one(self) -> None:
        event_rows, outbox_rows = self._rows()
        with self.conn.cursor() as cur:
            cur.executemany(self.sql[0], event_rows)
            cur.executemany(self.sql[1], outbox_rows)
        self.conn.commit()


def _append_and_queue(uow: UnitOfWorkFactory, events_per_tx: int, payload: bytes) -> None:
    """One command per event: a new stream gets one event and queues one integration event."""
    metadata = EventMetadata(tenant_id="benchappend", actor=Actor.system("bench"))
    with uow() as work:
        for _ in range(events_per_tx):
            event = NewEvent(type=EVENT_TYPE, payload=payload)
            work.append(f"profile-{uuid.uuid4().hex}", 0, [event], metadata)
            work.publish(outbox_message("benchappend", payload, event.event_id))
        work.commit()


class KernelAppend:
    """UnitOfWork transactions through `Database.run`, one in flight, as a service issues them."""

    def __init__(
        self, db: Database, uow: UnitOfWorkFactory, events_per_tx: int, payload: bytes, tick: Tick
    ) -> None:
        self.db, self.uow, self.k, self.payload, self.tick = db, uow, events_per_tx, payload, tick
        self.warm = False

    async def _one(self) -> None:
        await self.db.run(_append_and_queue, self.uow, self.k, self.payload)

    async def round(self, n: int) -> Measure:
        """`n` transactions; the measure counts events (each with its outbox row)."""
        if not self.warm:
            for _ in range(WARM_UP):
                await self._one()
            self.warm = True
        before = count_rows(self.db, events)
        done = _chunked(self.tick, n * self.k)
        start = time.perf_counter()
        for _ in range(n):
            await self._one()
            done(self.k)
        seconds = time.perf_counter() - start
        appended = count_rows(self.db, events) - before
        if appended != n * self.k:
            raise RuntimeError(f"expected {n * self.k} events, found {appended}")
        return Measure(appended, seconds)


# --- 2. relay and raw publishes --------------------------------------------------------


def preload_outbox(db: Database, count: int, payload: bytes, tenant: str) -> None:
    """Fills the outbox (untimed) with rows shaped as `UnitOfWork.publish` writes them."""
    now = datetime.now(UTC)
    rows = [
        {
            "event_id": str(uuid.uuid4()),
            "subject": subject(tenant),
            "type": EVENT_TYPE,
            "payload": payload,
            "tenant_id": tenant,
            "source": "bench",
            "subject_ref": "",
            "traceparent": "",
            "created_time": now,
        }
        for _ in range(count)
    ]

    def write(session: Session) -> None:
        for i in range(0, count, 1000):
            session.execute(insert(outbox), rows[i : i + 1000])

    db.run_sync(write)


class KernelRelay:
    """`OutboxRelay.run_once` until the outbox is empty: read, publish pipelined, delete acked."""

    def __init__(self, db: Database, js: JetStreamContext, payload: bytes, tick: Tick) -> None:
        self.db, self.payload, self.tick = db, payload, tick
        self.tenant = f"relay{uuid.uuid4().hex[:6]}"
        self.relay = OutboxRelay(db, js)
        db.run_sync(lambda session: session.execute(delete(outbox)))  # figure 1 left rows

    async def round(self, n: int) -> Measure:
        """Preloads `n` rows (untimed), then times draining them to JetStream."""
        if count_rows(self.db, outbox):
            raise RuntimeError("the outbox must start empty")
        await self.db.run(preload_outbox, self.db, n, self.payload, self.tenant)
        moved = 0
        start = time.perf_counter()
        while batch := await self.relay.run_once():
            moved += batch
            self.tick(batch)
        seconds = time.perf_counter() - start
        if moved != n or count_rows(self.db, outbox):
            raise RuntimeError(f"relay moved {moved} of {n} rows")
        return Measure(moved, seconds)


class RawPublish:
    """JetStream publishes with the relay's headers: pipelined `publish_async`, or awaited."""

    def __init__(self, js: JetStreamContext, pipelined: bool, payload: bytes, tick: Tick) -> None:
        self.js, self.pipelined, self.payload, self.tick = js, pipelined, payload, tick
        self.tenant = "benchpub"

    async def round(self, n: int) -> Measure:
        headers = [envelope_headers(self.tenant, self.payload) for _ in range(n)]
        to = subject(self.tenant)
        done = _chunked(self.tick, n)
        start = time.perf_counter()
        if self.pipelined:  # nats-py keeps up to 4000 acks pending, then waits
            futures = []
            for h in headers:
                futures.append(await self.js.publish_async(to, self.payload, headers=h))
                done(1)
            acks = await asyncio.gather(*futures)
        else:  # one round trip and one fsync per message
            acks = []
            for h in headers:
                acks.append(await self.js.publish(to, self.payload, headers=h))
                done(1)
        seconds = time.perf_counter() - start
        if len(acks) != n or any(a.duplicate for a in acks):
            raise RuntimeError("publish lost or duplicated messages")
        return Measure(n, seconds)


# --- 3. consumers -----------------------------------------------------------------------


async def preload_stream(js: JetStreamContext, count: int, tenant: str, payload: bytes) -> None:
    """Publishes `count` enveloped messages (untimed) for the consumers to read."""
    futures = [
        await js.publish_async(subject(tenant), payload, headers=envelope_headers(tenant, payload))
        for _ in range(count)
    ]
    await asyncio.gather(*futures)


class Drain:
    """Counts messages against a running target; a round reads until the target is met."""

    def __init__(self, tick: Tick) -> None:
        self.tick = tick
        self.done = 0
        self.target = 0

    async def batch(self) -> int:
        raise NotImplementedError

    async def round(self, n: int) -> Measure:
        self.target += n
        got = 0
        start = time.perf_counter()
        while self.done < self.target:
            if time.perf_counter() - start > ROUND_DEADLINE:
                raise TimeoutError(f"{type(self).__name__} read {self.done} of {self.target}")
            k = await self.batch()
            self.done, got = self.done + k, got + k
            self.tick(k)
        return Measure(got, time.perf_counter() - start)


def events_in(msg: Msg) -> int:
    """How many events a message carries: a batch's entries (read from its body), else one.
    Consumers are counted in events, so a batch of a hundred is a hundred on both sides."""
    if (msg.headers or {}).get("ce-type") != BATCH_TYPE:
        return 1
    return len(batch_pb2.EventBatch.FromString(msg.data).events)


class RawConsumer(Drain):
    """A bare durable pull consumer: fetch(256) and ack each message, nothing else; it
    counts the events the messages carry (events_in)."""

    def __init__(self, js: JetStreamContext, tenant: str, durable: str, tick: Tick) -> None:
        super().__init__(tick)
        self.js, self.tenant, self.durable = js, tenant, durable
        self.sub: JetStreamContext.PullSubscription | None = None

    async def round(self, n: int) -> Measure:
        if self.sub is None:
            config = ConsumerConfig(
                durable_name=self.durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                filter_subject=subject(self.tenant),
                ack_wait=30.0,
                max_ack_pending=MAX_ACK_PENDING,
            )
            self.sub = await self.js.pull_subscribe(
                subject(self.tenant), durable=self.durable, stream=STREAM, config=config
            )
        return await super().round(n)

    async def batch(self) -> int:
        assert self.sub is not None
        try:
            msgs = await self.sub.fetch(CONSUMER_BATCH, timeout=2.0)
        except NatsTimeout:
            return 0
        events = 0
        for m in msgs:
            events += events_in(m)
            await m.ack()
        return events
