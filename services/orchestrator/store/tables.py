"""Tables of the orchestrator's own database, beside the kernel's events/outbox/inbox."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, MetaData, String, Table

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
