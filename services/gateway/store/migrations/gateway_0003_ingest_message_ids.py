"""Ingest dedupe: message ids accepted within their tenant's dedupe window.

Revision ID: gateway_0003
Revises: gateway_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import UtcDateTime

revision = "gateway_0003"
down_revision = "gateway_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Spelled out, not `metadata.create_all`: a revision must not change when tables.py does.
    op.create_table(
        "ingest_message_ids",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("message_id", sa.String(128), primary_key=True),
        sa.Column("expire_time", UtcDateTime, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_ingest_message_ids_expire", "ingest_message_ids", ["expire_time"])


def downgrade() -> None:
    op.drop_index("ix_ingest_message_ids_expire", table_name="ingest_message_ids")
    op.drop_table("ingest_message_ids")
