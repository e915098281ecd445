"""The tenants' identifier hash keys leave this database for the key store
(`LAYERCAKE_IDENTITY_KEYS_URL`): a backup of the event database alone then holds no key.

Start-up copies them to the key store and commits (`SqlProfileKeys.adopt`) before this
runs; a database migrated without that start-up (a fresh one, a test) holds none.

Revision ID: identity_0007
Revises: identity_0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import UtcDateTime

revision = "identity_0007"
down_revision = "identity_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("tenant_keys")


def downgrade() -> None:
    # Frozen: the table as identity_0002 made it (empty: its keys stay in the key store).
    op.create_table(
        "tenant_keys",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("hash_key", sa.LargeBinary, nullable=False),
        sa.Column("create_time", UtcDateTime, nullable=False),
    )
