"""Tables of the orchestrator's own database, beside the kernel's events/outbox/inbox."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, Index, MetaData, String, Table

from services.kernel.store.schema import UtcDateTime

metadata = MetaData()

# Projection of identity's ProfileUpdated changes; one row per profile, merged per field.
contact_states = Table(
    "contact_states",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("profile_version", BigInteger, nullable=False),
    Column("consent", JSON, nullable=False),  # {"purpose": bool}
    Column("time_zone", String(64), nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    # {"consent:<purpose>" | "trait:timezone": profile version that set it}
    Column("field_versions", JSON, nullable=False),
)

# The per-profile send ledger: each send's latest state (frequency caps count it, stats
# read it); the send id is the send command's event id (instance + step).
send_ledger = Table(
    "send_ledger",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("send_id", String(200), primary_key=True),
    Column("profile_id", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("journey_id", String(100), nullable=False),
    Column("step_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("time", UtcDateTime, nullable=False),
    Column("value", Float, nullable=False),
    Column("reason", String(200), nullable=False),
    Column("hold_until", UtcDateTime, nullable=True),
    Column("feedback", String(32), nullable=False),
    Index("send_ledger_by_profile", "tenant_id", "profile_id", "time"),
)

# A tenant's stock levels: the newest observation per product and store.
stock_levels = Table(
    "stock_levels",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("product", String(100), primary_key=True),
    Column("store", String(100), primary_key=True),
    Column("units", BigInteger, nullable=False),
    Column("observe_time", UtcDateTime, nullable=False),
    Column("version", BigInteger, nullable=False),
)

# People whose sends were suppressed because a product was out of stock at a store; taken
# (and told BackInStock) when the store has it again.
stock_waiters = Table(
    "stock_waiters",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("product", String(100), primary_key=True),
    Column("store", String(100), primary_key=True),
    Column("send_id", String(200), primary_key=True),
    Column("profile_id", String(64), nullable=False),
    Column("journey_id", String(100), nullable=False),
    Column("step_id", String(64), nullable=False),
    Column("suppress_time", UtcDateTime, nullable=False),
)
