"""Gateway read models: tenants, api_keys.

Revision ID: gateway_0001
Revises: kernel_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import UtcDateTime

revision = "gateway_0001"
down_revision = "kernel_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Spelled out, not `metadata.create_all`: a revision must not change when tables.py does.
    op.create_table(
        "tenants",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("create_time", UtcDateTime, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("issue_time", UtcDateTime, nullable=False),
        sa.Column("revoke_time", UtcDateTime, nullable=True),
        sa.Column("revoke_reason", sa.String(500), nullable=False),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_api_keys_tenant", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("tenants")
