"""The gateway's read models: tenants and API keys (hashed), rebuilt from tenant streams."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table

from services.kernel.store.schema import UtcDateTime

metadata = MetaData()

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("scopes", String(200), nullable=False),  # space-separated, sorted
    Column("display_name", String(200), nullable=False),
    Column("issue_time", UtcDateTime, nullable=False),
    Column("revoke_time", UtcDateTime, nullable=True),
    Column("revoke_reason", String(500), nullable=False),
)

Index("ix_api_keys_tenant", api_keys.c.tenant_id)
