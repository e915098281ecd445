"""Forgetting sweeps the tenant's dead letters: a raw event or a message about the person
that a consumer dead-lettered keeps its body in `DEADLETTER` (30 days). A forget queues a
sweep of the tenant here; the eraser reads the tenant's dead letters, queues those that
hold the person's events in `stream_erasures`, and drops the row.

Revision ID: identity_0009
Revises: identity_0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import UtcDateTime

revision = "identity_0009"
down_revision = "identity_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letter_sweeps",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("request_time", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dead_letter_sweeps")
