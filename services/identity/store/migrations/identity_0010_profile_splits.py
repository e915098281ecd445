"""Which profiles an unmerge split each profile off: forgetting the split-off person
scrubs their identifiers from the events the profile they left still holds.

Revision ID: identity_0010
Revises: identity_0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "identity_0010"
down_revision = "identity_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profile_splits",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("split_from", sa.String(64), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("profile_splits")
