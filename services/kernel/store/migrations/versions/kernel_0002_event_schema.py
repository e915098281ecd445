"""Events name a typed actor and carry a schema version; aggregate snapshots.

`actor` (a free string) becomes `actor_id` + `actor_kind`: `person:<id>` and
`system:<id>` keep their kind and id, any other string becomes a system actor of
that id. Events written before this revision are schema version 1.

Revision ID: kernel_0002_event_schema
Revises: kernel_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kernel.store.column_types import UtcDateTime

revision = "kernel_0002_event_schema"
down_revision = "kernel_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("actor_id", sa.String(200), nullable=True))
        batch.add_column(sa.Column("actor_kind", sa.String(16), nullable=True))
        batch.add_column(
            sa.Column("schema_version", sa.Integer, nullable=False, server_default="1")
        )
    op.execute(
        "UPDATE events SET"
        " actor_kind = CASE WHEN actor LIKE 'person:_%' THEN 'person' ELSE 'system' END,"
        " actor_id = CASE"
        "  WHEN actor LIKE 'person:_%' OR actor LIKE 'system:_%' THEN substr(actor, 8)"
        "  WHEN actor = '' THEN 'unknown'"
        "  ELSE actor END"
    )
    with op.batch_alter_table("events") as batch:
        batch.alter_column("actor_id", existing_type=sa.String(200), nullable=False)
        batch.alter_column("actor_kind", existing_type=sa.String(16), nullable=False)
        batch.alter_column("schema_version", existing_type=sa.Integer, server_default=None)
        batch.drop_column("actor")
    op.create_table(
        "snapshots",
        sa.Column("stream_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("state", sa.LargeBinary, nullable=False),
        sa.Column("recorded_time", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("snapshots")
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("actor", sa.String(200), nullable=False, server_default=""))
    op.execute("UPDATE events SET actor = actor_kind || ':' || actor_id")
    with op.batch_alter_table("events") as batch:
        batch.alter_column("actor", existing_type=sa.String(200), server_default=None)
        batch.drop_column("schema_version")
        batch.drop_column("actor_kind")
        batch.drop_column("actor_id")
