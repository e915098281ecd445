"""Computed traits and audiences: window state per profile and trait, audience members
and sizes.

Revision ID: identity_0003
Revises: identity_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import UtcDateTime

revision = "identity_0003"
down_revision = "identity_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Frozen: the tables as this revision made them.
    op.create_table(
        "computed_trait_windows",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(16), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
    )
    op.create_table(
        "audience_members",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("audience_id", sa.String(100), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("audience_version", sa.Integer, nullable=False),
        sa.Column("enter_time", UtcDateTime, nullable=False),
    )
    op.create_table(
        "audience_sizes",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("audience_id", sa.String(100), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audience_sizes")
    op.drop_table("audience_members")
    op.drop_table("computed_trait_windows")
