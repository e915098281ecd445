"""Tables of the decision service's own database, beside the kernel's events/outbox/inbox."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, LargeBinary, MetaData, String, Table

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

# Registered ONNX model versions: immutable once written; the bytes sit beside their
# signature so every replica builds its sessions from the store.
model_versions = Table(
    "model_versions",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("model_name", String(100), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("feature_names", JSON, nullable=False),  # ["name", ...] in input column order
    Column("signature", JSON, nullable=False),  # {"inputs": [...], "outputs": [...]}
    Column("score_output", String(200), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("description", String(2000), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("register_time", UtcDateTime, nullable=False),
    Column("content", LargeBinary, nullable=False),
)
