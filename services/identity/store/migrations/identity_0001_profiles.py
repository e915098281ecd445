"""Identity read models: profiles, profile_identifiers, profile_keys.

Revision ID: identity_0001
Revises: kernel_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import UtcDateTime

revision = "identity_0001"
down_revision = "kernel_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Frozen: the tables as this revision made them, whatever store/tables.py says today.
    op.create_table(
        "profiles",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("traits", sa.Text, nullable=False),
        sa.Column("consent", sa.Text, nullable=False),
        sa.Column("create_time", UtcDateTime, nullable=False),
        sa.Column("update_time", UtcDateTime, nullable=False),
    )
    op.create_table(
        "profile_identifiers",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("id_type", sa.String(80), primary_key=True),
        sa.Column("id_value", sa.String(256), primary_key=True),
        sa.Column("hashed", sa.Boolean, nullable=False),
        sa.Column("profile_id", sa.String(64), nullable=False),
    )
    op.create_index(
        "ix_profile_identifiers_profile", "profile_identifiers", ["tenant_id", "profile_id"]
    )
    op.create_table(
        "profile_keys",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("data_key", sa.LargeBinary, nullable=False),
        sa.Column("create_time", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("profile_keys")
    op.drop_index("ix_profile_identifiers_profile", table_name="profile_identifiers")
    op.drop_table("profile_identifiers")
    op.drop_table("profiles")
