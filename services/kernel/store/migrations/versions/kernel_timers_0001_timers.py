"""Kernel durable timers: timers (with the due-query index) and dead_timers.

Revision ID: kernel_timers_0001
Revises: kernel_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "kernel_timers_0001"
down_revision = "kernel_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Frozen here on purpose: later changes to services/kernel/timers/schema.py need
    # a new revision, never an edit of this one.
    op.create_table(
        "timers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("timer_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("due_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("next_try_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("scheduled_time", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "timer_id", name="uq_timers_tenant_timer"),
    )
    op.create_index("ix_timers_next_try_time", "timers", ["next_try_time"])
    op.create_table(
        "dead_timers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("timer_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("due_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(1000), nullable=False),
        sa.Column("dead_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dead_timers")
    op.drop_index("ix_timers_next_try_time", table_name="timers")
    op.drop_table("timers")
