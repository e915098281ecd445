"""Identity read models: profiles, profile_identifiers, profile_keys.

Revision ID: identity_0001
Revises: kernel_0001
"""

from __future__ import annotations

from alembic import op

from services.identity.store.tables import metadata

revision = "identity_0001"
down_revision = "kernel_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
