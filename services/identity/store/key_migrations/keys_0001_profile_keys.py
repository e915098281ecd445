"""Identity's key store: one data key per profile, in its own database.

Revision ID: identity_keys_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import UtcDateTime

revision = "identity_keys_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Frozen: the table as this revision made it, whatever store/keys.py says today.
    op.create_table(
        "profile_keys",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("data_key", sa.LargeBinary, nullable=False),
        sa.Column("create_time", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("profile_keys")
