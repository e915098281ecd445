"""model_versions.path: a version's bytes may live in a file of the configured model
directory (LAYERCAKE_DECISION_MODEL_DIR), the row keeping its path and checksum and no
content. Rows from before keep their bytes (path empty).

Revision ID: decision_0006
Revises: decision_0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "decision_0006"
down_revision = "decision_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:  # SQLite rebuilds the table
        batch.add_column(sa.Column("path", sa.String(1000), nullable=False, server_default=""))
        batch.alter_column("content", existing_type=sa.LargeBinary, nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.alter_column("content", existing_type=sa.LargeBinary, nullable=False)
        batch.drop_column("path")
