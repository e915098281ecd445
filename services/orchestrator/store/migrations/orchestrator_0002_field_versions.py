"""contact_states.field_versions: which profile version set each part, so identity's
changes (not snapshots) merge idempotently and in any order.

Revision ID: orchestrator_0002
Revises: orchestrator_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orchestrator_0002"
down_revision = "orchestrator_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # rows projected from whole-profile snapshots hold no versions yet: every change wins
    op.add_column(
        "contact_states",
        sa.Column("field_versions", sa.JSON, nullable=False, server_default=sa.text("'{}'")),
    )


def downgrade() -> None:
    op.drop_column("contact_states", "field_versions")
