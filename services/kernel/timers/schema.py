"""The timers table (what is still to fire) and the dead-timer table (what gave up).

Created by the kernel migration `kernel_timers_0001`, which freezes its own copy
of these definitions; this module is what the running code queries.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from services.kernel.store.schema import UtcDateTime

metadata = MetaData()

timers = Table(
    "timers",
    metadata,
    # A fresh random id each time a timer is (re)scheduled: firing deletes by it, so a
    # timer replaced or cancelled after it was claimed is never fired in its old form.
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("timer_id", String(200), nullable=False),
    Column("kind", String(100), nullable=False),
    Column("due_time", UtcDateTime, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    # When a scheduler may next take it: the due time, then a lease's end, then a back-off.
    Column("next_try_time", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(1000), nullable=True),
    Column("claimed_by", String(100), nullable=True),
    Column("scheduled_time", UtcDateTime, nullable=False),
    UniqueConstraint("tenant_id", "timer_id", name="uq_timers_tenant_timer"),
)

Index("ix_timers_next_try_time", timers.c.next_try_time)

dead_timers = Table(
    "dead_timers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("timer_id", String(200), nullable=False),
    Column("kind", String(100), nullable=False),
    Column("due_time", UtcDateTime, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(1000), nullable=False),
    Column("dead_time", UtcDateTime, nullable=False),
)
