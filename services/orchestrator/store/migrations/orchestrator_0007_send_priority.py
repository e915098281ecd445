"""send_ledger.priority: the sending journey's priority, which settles a contest for a
frequency cap's last slot between sends of equal value.

Revision ID: orchestrator_0007
Revises: orchestrator_0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orchestrator_0007"
down_revision = "orchestrator_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # sends recorded before: no priority, as a journey that names none
    op.add_column(
        "send_ledger",
        sa.Column("priority", sa.Integer, nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    op.drop_column("send_ledger", "priority")
