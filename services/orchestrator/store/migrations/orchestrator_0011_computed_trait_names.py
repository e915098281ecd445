"""trait_names holds template variables, so computed traits join the traits: a row's name
becomes `profile.traits.<name>` (what orchestrator_0009 learnt), beside the
`profile.computed.<name>` rows learnt from identity's ComputedTraitChanged from now on.

Revision ID: orchestrator_0011
Revises: orchestrator_0010
"""

from __future__ import annotations

from alembic import op

revision = "orchestrator_0011"
down_revision = "orchestrator_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE trait_names SET name = 'profile.traits.' || name")


def downgrade() -> None:
    op.execute("DELETE FROM trait_names WHERE name NOT LIKE 'profile.traits.%'")
    op.execute("UPDATE trait_names SET name = substr(name, 16)")
