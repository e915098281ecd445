"""Kernel index: outbox messages by what they are about (`subject_ref`, e.g. a profile id),
so forgetting a person finds their unrelayed messages with a seek, not an outbox scan.

Revision ID: kernel_0003_outbox_subject_ref
Revises: kernel_0002_event_schema
"""

from __future__ import annotations

from alembic import op

revision = "kernel_0003_outbox_subject_ref"
down_revision = "kernel_0002_event_schema"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_subject_ref", "outbox", ["tenant_id", "subject_ref"])


def downgrade() -> None:
    op.drop_index("ix_outbox_subject_ref", "outbox")
