"""profile_features.field_versions: which profile version set each part, so identity's
changes (not snapshots) merge idempotently and in any order.

Revision ID: decision_0002
Revises: decision_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "decision_0002"
down_revision = "decision_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # rows projected from whole-profile snapshots hold no versions yet: every change wins
    op.add_column(
        "profile_features",
        sa.Column("field_versions", sa.JSON, nullable=False, server_default=sa.text("'{}'")),
    )


def downgrade() -> None:
    op.drop_column("profile_features", "field_versions")
