"""Gateway read models: principals, and the principal each API key belongs to.

Revision ID: gateway_0002
Revises: gateway_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import UtcDateTime

revision = "gateway_0002"
down_revision = "gateway_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Spelled out, not `metadata.create_all`: a revision must not change when tables.py does.
    op.create_table(
        "principals",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("principal_id", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("create_time", UtcDateTime, nullable=False),
    )
    # Keys issued before principals keep '' and authenticate no more (no principal, no roles).
    op.add_column(
        "api_keys",
        sa.Column("principal_id", sa.String(128), nullable=False, server_default=""),
    )
    op.drop_index("ix_api_keys_tenant", table_name="api_keys")
    op.create_index("ix_api_keys_principal", "api_keys", ["tenant_id", "principal_id"])


def downgrade() -> None:
    op.drop_index("ix_api_keys_principal", table_name="api_keys")
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant_id"])
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("principal_id")
    op.drop_table("principals")
