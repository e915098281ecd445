"""Kernel tables: events, outbox, inbox.

Revision ID: kernel_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import Position, UtcDateTime

revision = "kernel_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Frozen: the tables as this revision made them, whatever store/schema.py says today.
    op.create_table(
        "events",
        sa.Column("position", Position, primary_key=True, autoincrement=True),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("causation_id", sa.String(64), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("traceparent", sa.String(64), nullable=False),
        sa.Column("recorded_time", UtcDateTime, nullable=False),
        sa.UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
    )
    op.create_index("ix_events_tenant_position", "events", ["tenant_id", "position"])
    op.create_table(
        "outbox",
        sa.Column("id", Position, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("subject_ref", sa.String(200), nullable=False),
        sa.Column("traceparent", sa.String(64), nullable=False),
        sa.Column("created_time", UtcDateTime, nullable=False),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("processed_time", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
    )


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
    op.drop_index("ix_events_tenant_position", table_name="events")
    op.drop_table("events")
