"""Decision log: decisions, the actions they returned (features, outcome) and exposures.

Revision ID: decision_0004
Revises: decision_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "decision_0004"
down_revision = "decision_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Spelled out rather than taken from store.tables: a revision must not change
    # when the tables module does.
    op.create_table(
        "decisions",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("decision_id", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("placement", sa.String(100), nullable=False),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("fallback", sa.Boolean, nullable=False),
        sa.Column("decide_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_decisions_time", "decisions", ["tenant_id", "decide_time"])
    op.create_index("ix_decisions_profile", "decisions", ["tenant_id", "profile_id"])
    op.create_table(
        "decision_actions",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("decision_id", sa.String(64), primary_key=True),
        sa.Column("action_id", sa.String(100), primary_key=True),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("explored", sa.Boolean, nullable=False),
        sa.Column("propensity", sa.Float, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("outcome", sa.Integer, nullable=False),
        sa.Column("outcome_time", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "action_exposures",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("action_id", sa.String(100), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("served", sa.BigInteger, nullable=False),
        sa.Column("positives", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("action_exposures")
    op.drop_table("decision_actions")
    op.drop_index("ix_decisions_profile", "decisions")
    op.drop_index("ix_decisions_time", "decisions")
    op.drop_table("decisions")
