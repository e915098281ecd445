"""Tables of the decision service's own database, beside the kernel's events/outbox/inbox."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, MetaData, String, Table

from services.kernel.store.schema import UtcDateTime

metadata = MetaData()

# Projection of identity's ProfileUpdated changes; one row per profile, merged per field.
profile_features = Table(
    "profile_features",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("profile_version", BigInteger, nullable=False),
    Column("features", JSON, nullable=False),  # {"name": number}
    Column("update_time", UtcDateTime, nullable=False),
    # {"trait:<name>" | "consent:<purpose>" | "identifier_count": profile version that set it}
    Column("field_versions", JSON, nullable=False),
)
