"""stock_levels (a tenant's business facts, newest per product and store) and
stock_waiters (people suppressed for an out-of-stock product, until it returns).

Revision ID: orchestrator_0004
Revises: orchestrator_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orchestrator_0004"
down_revision = "orchestrator_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stock_levels",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("product", sa.String(100), primary_key=True),
        sa.Column("store", sa.String(100), primary_key=True),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("observe_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "stock_waiters",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("product", sa.String(100), primary_key=True),
        sa.Column("store", sa.String(100), primary_key=True),
        sa.Column("send_id", sa.String(200), primary_key=True),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("journey_id", sa.String(100), nullable=False),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("suppress_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stock_waiters")
    op.drop_table("stock_levels")
