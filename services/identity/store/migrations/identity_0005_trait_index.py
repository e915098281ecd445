"""The trait index SearchProfiles seeks in: one row per live profile and non-personal trait.

Revision ID: identity_0005
Revises: identity_0004
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from alembic import op

from services.identity.domain.personal_data import is_personal

revision = "identity_0005"
down_revision = "identity_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Frozen: the table as this revision made it.
    index = op.create_table(
        "profile_trait_index",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("trait", sa.String(128), primary_key=True),
        sa.Column("value_hash", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
    )
    rows = op.get_bind().execute(
        sa.text("SELECT tenant_id, profile_id, traits FROM profiles WHERE merged_into IS NULL")
    )
    found = [
        {
            "tenant_id": r.tenant_id,
            "trait": name,
            "value_hash": hashlib.sha256(value["v"].encode()).hexdigest(),
            "profile_id": r.profile_id,
        }
        for r in rows
        for name, value in json.loads(r.traits).items()
        if len(name) <= 128 and not is_personal(name) and "v" in value  # sealed: personal
    ]
    if found:
        op.bulk_insert(index, found)


def downgrade() -> None:
    op.drop_table("profile_trait_index")
