"""audience_members: who is in each audience, from identity's AudienceEntered/Exited (a
scheduled entry's `audience` walks it).

Revision ID: orchestrator_0006
Revises: orchestrator_0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orchestrator_0006"
down_revision = "orchestrator_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audience_members",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("audience_id", sa.String(100), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("member", sa.Boolean, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_audience_members_profile", "audience_members", ["tenant_id", "profile_id"])


def downgrade() -> None:
    op.drop_index("ix_audience_members_profile", "audience_members")
    op.drop_table("audience_members")
