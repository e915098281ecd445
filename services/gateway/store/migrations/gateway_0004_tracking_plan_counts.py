"""Tracking plans: per tenant and event type, how many events its plans rejected and flagged.

Revision ID: gateway_0004
Revises: gateway_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import UtcDateTime

revision = "gateway_0004"
down_revision = "gateway_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Spelled out, not `metadata.create_all`: a revision must not change when tables.py does.
    op.create_table(
        "tracking_plan_counts",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("event_type", sa.String(200), primary_key=True),
        sa.Column("rejected", sa.BigInteger, nullable=False),
        sa.Column("flagged", sa.BigInteger, nullable=False),
        sa.Column("last_time", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tracking_plan_counts")
