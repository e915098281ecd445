"""The assets read model: one row per asset, kept by `AssetProjection` in the append's
transaction. Its migration (`kernel_assets_0001`) freezes its own copy of this table."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text

from services.kernel.store.schema import UtcDateTime

metadata = MetaData()

assets = Table(
    "assets",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("asset_id", String(100), nullable=False),
    Column("state", String(20), nullable=False),
    Column("latest_version", Integer, nullable=False),
    Column("published_version", Integer, nullable=False),
    Column("published_state", String(20), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("team", String(200), nullable=False),
    Column("support_contact", String(200), nullable=False),
    Column("tags", Text, nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "kind", "asset_id", name="pk_assets"),
)
