"""send_ledger.run_profile_id: the profile whose journey run made the send, which a merge
does not move (it moves `profile_id` to the survivor), so the channel's feedback on the send
still reaches the run and its step's counts.

Revision ID: orchestrator_0008
Revises: orchestrator_0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orchestrator_0008"
down_revision = "orchestrator_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # sends recorded before: '' reads as the row's profile_id
    op.add_column(
        "send_ledger",
        sa.Column("run_profile_id", sa.String(64), nullable=False, server_default=sa.text("''")),
    )


def downgrade() -> None:
    op.drop_column("send_ledger", "run_profile_id")
