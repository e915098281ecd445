"""Tables of the orchestrator's own database, beside the kernel's events/outbox/inbox."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, MetaData, String, Table

from services.kernel.store.schema import UtcDateTime

metadata = MetaData()

# Projection of identity's ProfileUpdated; one row per profile, newest version wins.
contact_states = Table(
    "contact_states",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("profile_version", BigInteger, nullable=False),
    Column("consent", JSON, nullable=False),  # {"purpose": bool}
    Column("time_zone", String(64), nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
)
