"""trait_names: the names of the traits a tenant's profiles hold (personal ones too, never
their values), learnt from identity's ProfileUpdated: what a template may read unguarded.

Revision ID: orchestrator_0009
Revises: orchestrator_0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orchestrator_0009"
down_revision = "orchestrator_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trait_names",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("trait_names")
