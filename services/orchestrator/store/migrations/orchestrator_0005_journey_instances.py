"""journey_instances (where each instance's latest run is) and journey_step_counts
(entered, sent, suppressed... per journey version and step), both written with the
instance's events.

Revision ID: orchestrator_0005
Revises: orchestrator_0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import UtcDateTime

revision = "orchestrator_0005"
down_revision = "orchestrator_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journey_instances",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("journey_id", sa.String(100), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("journey_version", sa.Integer, nullable=False),
        sa.Column("run", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("wait_reason", sa.String(20), nullable=False),
        sa.Column("wait_event", sa.String(100), nullable=False),
        sa.Column("due_time", UtcDateTime, nullable=True),
        sa.Column("enter_time", UtcDateTime, nullable=False),
        sa.Column("exit_reason", sa.String(20), nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_journey_instances_profile", "journey_instances", ["tenant_id", "profile_id"]
    )
    op.create_index(
        "ix_journey_instances_waiting",
        "journey_instances",
        ["tenant_id", "journey_id", "active"],
    )
    op.create_table(
        "journey_step_counts",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("journey_id", sa.String(100), primary_key=True),
        sa.Column("journey_version", sa.Integer, primary_key=True),
        sa.Column("step_id", sa.String(64), primary_key=True),
        sa.Column("metric", sa.String(100), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("journey_step_counts")
    op.drop_index("ix_journey_instances_waiting", "journey_instances")
    op.drop_index("ix_journey_instances_profile", "journey_instances")
    op.drop_table("journey_instances")
