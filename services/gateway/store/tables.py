"""The gateway's read models: tenants, principals and API keys (hashed), rebuilt from streams."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, String, Table

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

principals = Table(
    "principals",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("principal_id", String(128), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("roles", String(200), nullable=False),  # space-separated, sorted
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
    Column("principal_id", String(128), nullable=False, server_default=""),
)

Index("ix_api_keys_principal", api_keys.c.tenant_id, api_keys.c.principal_id)

# Message ids accepted within their tenant's dedupe window: the hot lookup seeks the primary
# key (tenant, message id) for a batch's ids at once; pruning walks the expiry index.
ingest_message_ids = Table(
    "ingest_message_ids",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("message_id", String(128), primary_key=True),
    Column("expire_time", UtcDateTime, nullable=False),
    Column("sequence", BigInteger, nullable=False),  # of the accepted copy in INGEST
)

Index("ix_ingest_message_ids_expire", ingest_message_ids.c.expire_time)

# What tenants' tracking plans did, per event type (counts added by one upsert per request).
tracking_plan_counts = Table(
    "tracking_plan_counts",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("event_type", String(200), primary_key=True),
    Column("rejected", BigInteger, nullable=False),
    Column("flagged", BigInteger, nullable=False),
    Column("last_time", UtcDateTime, nullable=False),
)

# Each API key's token bucket, shared by the replicas (services/gateway/rate_limits.py).
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("update_time", Float, nullable=False),  # epoch seconds of the last refill
)
