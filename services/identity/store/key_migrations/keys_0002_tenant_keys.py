"""Each tenant's identifier hash key joins the key store (it was in identity's database).

Revision ID: identity_keys_0002
Revises: identity_keys_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import UtcDateTime

revision = "identity_keys_0002"
down_revision = "identity_keys_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Frozen: the table as this revision made it, whatever store/keys.py says today.
    # The keys themselves are copied from identity's database at start-up (`adopt`).
    op.create_table(
        "tenant_keys",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("hash_key", sa.LargeBinary, nullable=False),
        sa.Column("create_time", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tenant_keys")
