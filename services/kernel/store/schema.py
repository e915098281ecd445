"""Tables every service's database has: events, outbox, inbox, snapshots.

Service tables (projections) live in each service's own `store/` module and
migrations; these are created by the kernel's migrations (each of which
freezes its own copy of the tables it creates).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from services.kernel.store.column_types import Position, UtcDateTime

__all__ = ["Position", "UtcDateTime", "events", "inbox", "metadata", "outbox", "snapshots"]

metadata = MetaData()


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
    Column("actor_id", String(200), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("schema_version", Integer, nullable=False),
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

snapshots = Table(
    "snapshots",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("type", String(200), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("state", LargeBinary, nullable=False),
    Column("recorded_time", UtcDateTime, nullable=False),
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
# A forget finds a person's unrelayed messages by what they are about (kernel_0003).
Index("ix_outbox_subject_ref", outbox.c.tenant_id, outbox.c.subject_ref)
