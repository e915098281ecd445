"""Rate limits across replicas: each API key's token bucket, shared in the store.

Revision ID: gateway_0005
Revises: gateway_0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "gateway_0005"
down_revision = "gateway_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Spelled out, not `metadata.create_all`: a revision must not change when tables.py does.
    op.create_table(
        "rate_buckets",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("update_time", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_buckets")
