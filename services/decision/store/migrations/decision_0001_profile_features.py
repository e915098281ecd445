"""Decision read model: profile_features (projection of identity's ProfileUpdated).

Revision ID: decision_0001
Revises: kernel_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "decision_0001"
down_revision = "kernel_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Spelled out rather than taken from store.tables: a revision must not change
    # when the tables module does.
    op.create_table(
        "profile_features",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("profile_version", sa.BigInteger, nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("profile_features")
