"""send_ledger.run_profile_id for sends recorded before orchestrator_0008: the row's
profile_id, which is the run's until a merge moves it to the survivor. Rows a merge moved
before this revision already name the survivor; later merges leave run_profile_id as is,
so feedback on those sends still reaches the run that made them.

Revision ID: orchestrator_0010
Revises: orchestrator_0009
"""

from __future__ import annotations

from alembic import op

revision = "orchestrator_0010"
down_revision = "orchestrator_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE send_ledger SET run_profile_id = profile_id WHERE run_profile_id = ''")


def downgrade() -> None:
    pass  # '' read as profile_id: the filled values mean the same until a merge
