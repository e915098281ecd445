"""Forgetting erases a person's messages from every stream identity writes them to, not
only `INGEST`: `profile_messages` says which stream each message is in (the ones identity
published about the profile to `IDENTITY` besides the raw ones that fed it), the erasure
queue becomes `stream_erasures` (stream, sequence), and `forgotten_profiles` lists every
forgotten profile id, so a message about one relayed after the forget is queued at once.

Revision ID: identity_0008
Revises: identity_0007
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import UtcDateTime

revision = "identity_0008"
down_revision = "identity_0007"
branch_labels = None
depends_on = None

INGEST = "INGEST"


def _profile_messages(name: str, stream: bool) -> sa.Table:
    """Frozen: profile_messages as identity_0004 made it, or with this revision's stream."""
    columns: list[sa.Column[Any]] = [
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
    ]
    if stream:
        columns.append(sa.Column("stream", sa.String(32), primary_key=True,
                                 server_default=INGEST))  # fmt: skip
    columns.append(sa.Column("stream_sequence", sa.BigInteger, primary_key=True))
    return op.create_table(name, *columns)


def upgrade() -> None:
    _profile_messages("profile_messages_new", stream=True)
    op.execute(
        "INSERT INTO profile_messages_new (tenant_id, profile_id, stream, stream_sequence) "
        f"SELECT tenant_id, profile_id, '{INGEST}', stream_sequence FROM profile_messages"
    )
    op.drop_table("profile_messages")
    op.rename_table("profile_messages_new", "profile_messages")
    op.create_table(
        "stream_erasures",
        sa.Column("stream", sa.String(32), primary_key=True),
        sa.Column("stream_sequence", sa.BigInteger, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("request_time", UtcDateTime, nullable=False),
    )
    op.execute(
        "INSERT INTO stream_erasures (stream, stream_sequence, tenant_id, request_time) "
        f"SELECT '{INGEST}', stream_sequence, tenant_id, request_time FROM ingest_erasures"
    )
    op.drop_table("ingest_erasures")
    op.create_table(
        "forgotten_profiles",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("forget_time", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("forgotten_profiles")
    op.create_table(
        "ingest_erasures",
        sa.Column("stream_sequence", sa.BigInteger, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("request_time", UtcDateTime, nullable=False),
    )
    op.execute(
        "INSERT INTO ingest_erasures (stream_sequence, tenant_id, request_time) "
        f"SELECT stream_sequence, tenant_id, request_time FROM stream_erasures "
        f"WHERE stream = '{INGEST}'"
    )
    op.drop_table("stream_erasures")
    _profile_messages("profile_messages_old", stream=False)
    op.execute(
        "INSERT INTO profile_messages_old (tenant_id, profile_id, stream_sequence) "
        f"SELECT tenant_id, profile_id, stream_sequence FROM profile_messages "
        f"WHERE stream = '{INGEST}'"
    )
    op.drop_table("profile_messages")
    op.rename_table("profile_messages_old", "profile_messages")
