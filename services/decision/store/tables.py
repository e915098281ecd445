"""Tables of the decision service's own database, beside the kernel's events/outbox/inbox."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

from services.kernel.store.schema import UtcDateTime

metadata = MetaData()

# Projection of identity's ProfileUpdated changes; one row per profile, merged per field.
profile_features = Table(
    "profile_features",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("profile_version", BigInteger, nullable=False),
    # {"name": number | boolean | text}: only traits identity sent in clear (never sealed ones)
    Column("features", JSON, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    # {"trait:<name>" | "consent:<purpose>" | "identifier_count": profile version that set it}
    Column("field_versions", JSON, nullable=False),
)

# Registered ONNX model versions: immutable once written; the bytes sit beside their
# signature so every replica builds its sessions from the store, or (with
# LAYERCAKE_DECISION_MODEL_DIR) in the file at `path`, content then NULL.
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
    Column("content", LargeBinary, nullable=True),
    Column("path", String(1000), nullable=False, server_default=""),
)

# The decision log: one row per decision ...
decisions = Table(
    "decisions",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("decision_id", String(64), primary_key=True),
    Column("profile_id", String(64), nullable=False),
    Column("placement", String(100), nullable=False),
    Column("model_name", String(100), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("fallback", Boolean, nullable=False),
    Column("decide_time", UtcDateTime, nullable=False),
    Index("ix_decisions_time", "tenant_id", "decide_time"),
    Index("ix_decisions_profile", "tenant_id", "profile_id"),  # a forgotten person's
)

# ... and one per action it returned, with the features the model saw and what followed.
decision_actions = Table(
    "decision_actions",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("decision_id", String(64), primary_key=True),
    Column("action_id", String(100), primary_key=True),
    Column("rank", Integer, nullable=False),
    Column("explored", Boolean, nullable=False),
    Column("propensity", Float, nullable=False),
    Column("score", Float, nullable=False),
    Column("features", JSON, nullable=False),  # {"column": number}
    Column("outcome", Integer, nullable=False),  # OutcomeKind, 0 before any
    Column("outcome_time", UtcDateTime, nullable=True),
)

# How often decisions returned an action: profile_id "" for all profiles (with positives).
action_exposures = Table(
    "action_exposures",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("action_id", String(100), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("served", BigInteger, nullable=False),
    Column("positives", BigInteger, nullable=False),
    Index("ix_action_exposures_profile", "tenant_id", "profile_id"),  # a forgotten person's
)
