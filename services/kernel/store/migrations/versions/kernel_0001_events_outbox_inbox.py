"""Kernel tables: events, outbox, inbox.

Revision ID: kernel_0001
Revises:
"""

from __future__ import annotations

from alembic import op

from services.kernel.store.schema import events, inbox, metadata, outbox

revision = "kernel_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=[events, outbox, inbox])


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=[inbox, outbox, events])
