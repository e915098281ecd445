"""Kernel table: the recorded answers of idempotent mutating RPCs (AIP-155 `request_id`).

Revision ID: kernel_requests_0001
Revises: kernel_0001

The table is defined here, frozen: a later change to `services.kernel.rpc.idempotency`
needs a new revision, never an edit of this one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "kernel_requests_0001"
down_revision = "kernel_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotent_requests",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("method", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=False),
        sa.Column("recorded_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "method", "request_id", name="pk_idempotent_requests"),
    )


def downgrade() -> None:
    op.drop_table("idempotent_requests")
