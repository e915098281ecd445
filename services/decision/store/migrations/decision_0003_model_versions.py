"""Decision model registry: model_versions (ONNX files, their signatures and metadata).

Revision ID: decision_0003
Revises: decision_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "decision_0003"
down_revision = "decision_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Spelled out rather than taken from store.tables: a revision must not change
    # when the tables module does.
    op.create_table(
        "model_versions",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("model_name", sa.String(100), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("feature_names", sa.JSON, nullable=False),
        sa.Column("signature", sa.JSON, nullable=False),
        sa.Column("score_output", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("description", sa.String(2000), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("register_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_versions")
