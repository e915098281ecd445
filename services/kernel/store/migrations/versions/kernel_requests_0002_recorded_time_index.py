"""Kernel index: recorded answers of idempotent RPCs by age, so the purge seeks, not scans.

Revision ID: kernel_requests_0002
Revises: kernel_requests_0001
"""

from __future__ import annotations

from alembic import op

revision = "kernel_requests_0002"
down_revision = "kernel_requests_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_idempotent_requests_recorded_time", "idempotent_requests", ["recorded_time"]
    )


def downgrade() -> None:
    op.drop_index("ix_idempotent_requests_recorded_time", table_name="idempotent_requests")
