"""Merges and keyed hashing: profile aliases, identifier provenance, per-tenant hash keys.

Revision ID: identity_0002
Revises: identity_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import UtcDateTime

revision = "identity_0002"
down_revision = "identity_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Frozen: the columns and table as this revision made them.
    op.add_column("profiles", sa.Column("merged_into", sa.String(64), nullable=True))
    op.add_column("profile_identifiers", sa.Column("message_id", sa.String(128), nullable=True))
    op.add_column("profile_identifiers", sa.Column("link_time", UtcDateTime, nullable=True))
    op.create_table(
        "tenant_keys",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("hash_key", sa.LargeBinary, nullable=False),
        sa.Column("create_time", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tenant_keys")
    with op.batch_alter_table("profile_identifiers") as batch:
        batch.drop_column("link_time")
        batch.drop_column("message_id")
    with op.batch_alter_table("profiles") as batch:
        batch.drop_column("merged_into")
