"""Profiles by the profile they were merged into: a merge moves the absorbed profile's
aliases to the survivor with an index seek, not a scan of the tenant's profiles.

Revision ID: identity_0006
Revises: identity_0005
"""

from __future__ import annotations

from alembic import op

revision = "identity_0006"
down_revision = "identity_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_profiles_merged_into", "profiles", ["tenant_id", "merged_into"])


def downgrade() -> None:
    op.drop_index("ix_profiles_merged_into", "profiles")
