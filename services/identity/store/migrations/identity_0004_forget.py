"""Forgetting: the keys leave this database, personal trait values leave the read model in
clear, and the tables that suppress a forgotten person and erase their raw messages.

Revision ID: identity_0004
Revises: identity_0003
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import UtcDateTime

revision = "identity_0004"
down_revision = "identity_0003"
branch_labels = None
depends_on = None

# Frozen: the personal traits as this revision knew them (domain/personal_data.py then).
PERSONAL = frozenset(
    {
        "name", "first_name", "last_name", "full_name", "middle_name", "nickname", "email",
        "phone", "mobile", "address", "street", "address_line1", "address_line2",
        "postal_code", "zip", "birthday", "birth_date", "date_of_birth", "ip", "national_id",
        "passport", "tax_id",
    }
)  # fmt: skip


def upgrade() -> None:
    # Frozen: the tables as this revision made them, whatever store/tables.py says today.
    # The keys were copied to the key store (LAYERCAKE_IDENTITY_KEYS_URL) at start-up.
    op.drop_table("profile_keys")
    profiles = sa.table("profiles", sa.column("tenant_id"), sa.column("profile_id"),
                        sa.column("traits"))  # fmt: skip
    connection = op.get_bind()
    for row in connection.execute(sa.select(profiles)).all():
        traits = json.loads(row.traits)
        kept = {k: v for k, v in traits.items() if k.lower() not in PERSONAL}
        if kept != traits:  # `replay` brings them back, sealed
            connection.execute(
                profiles.update()
                .where(profiles.c.tenant_id == row.tenant_id)
                .where(profiles.c.profile_id == row.profile_id)
                .values(traits=json.dumps(kept, sort_keys=True))
            )
    op.create_table(
        "forgotten_identifiers",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("forget_time", UtcDateTime, nullable=False),
    )
    op.create_table(
        "profile_messages",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("stream_sequence", sa.BigInteger, primary_key=True),
    )
    op.create_table(
        "ingest_erasures",
        sa.Column("stream_sequence", sa.BigInteger, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("request_time", UtcDateTime, nullable=False),
    )
    op.create_table(
        "suppressed_messages",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("message_id", sa.String(128), primary_key=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("suppress_time", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("suppressed_messages")
    op.drop_table("ingest_erasures")
    op.drop_table("profile_messages")
    op.drop_table("forgotten_identifiers")
    op.create_table(
        "profile_keys",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("data_key", sa.LargeBinary, nullable=False),
        sa.Column("create_time", UtcDateTime, nullable=False),
    )
