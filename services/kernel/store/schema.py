"""Tables every service's database has: events, outbox, inbox.

Service tables (projections) live in each service's own `store/` module and
migrations; these three are created by the kernel's first migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Position = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


events = Table(
    "events",
    metadata,
    Column("position", Position, primary_key=True, autoincrement=True),
    Column("stream_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("type", String(200), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("causation_id", String(64), nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("traceparent", String(64), nullable=False),
    Column("recorded_time", UtcDateTime, nullable=False),
    UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Position, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("subject", String(300), nullable=False),
    Column("type", String(200), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("source", String(200), nullable=False),
    Column("subject_ref", String(200), nullable=False),
    Column("traceparent", String(64), nullable=False),
    Column("created_time", UtcDateTime, nullable=False),
)

inbox = Table(
    "inbox",
    metadata,
    Column("consumer", String(100), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("processed_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
)

Index("ix_events_tenant_position", events.c.tenant_id, events.c.position)
