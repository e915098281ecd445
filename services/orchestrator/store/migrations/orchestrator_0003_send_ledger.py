"""send_ledger: each send's latest state per tenant and send id, read by frequency caps
(per profile and time) and by send stats.

Revision ID: orchestrator_0003
Revises: orchestrator_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orchestrator_0003"
down_revision = "orchestrator_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_ledger",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("send_id", sa.String(200), primary_key=True),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("journey_id", sa.String(100), nullable=False),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("hold_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("feedback", sa.String(32), nullable=False),
    )
    op.create_index("send_ledger_by_profile", "send_ledger", ["tenant_id", "profile_id", "time"])


def downgrade() -> None:
    op.drop_index("send_ledger_by_profile", "send_ledger")
    op.drop_table("send_ledger")
