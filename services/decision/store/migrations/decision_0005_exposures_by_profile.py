"""Exposures by profile: forgetting a person deletes their counters without reading every
counter of the tenant (the primary key leads with the action).

Revision ID: decision_0005
Revises: decision_0004
"""

from __future__ import annotations

from alembic import op

revision = "decision_0005"
down_revision = "decision_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_action_exposures_profile", "action_exposures", ["tenant_id", "profile_id"])


def downgrade() -> None:
    op.drop_index("ix_action_exposures_profile", "action_exposures")
