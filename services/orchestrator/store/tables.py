"""Tables of the orchestrator's own database, beside the kernel's events/outbox/inbox."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

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
    # {"consent:<purpose>" | "trait:timezone" | "trait:<address trait>": version that set it}
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
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("reason", String(200), nullable=False),
    Column("hold_until", UtcDateTime, nullable=True),
    Column("feedback", String(32), nullable=False),
    Column("run_profile_id", String(64), nullable=False, server_default=""),
    Index("send_ledger_by_profile", "tenant_id", "profile_id", "time"),
)

# The traits a tenant's profiles hold (identity's ProfileUpdated, personal ones too, and
# ComputedTraitChanged), as template variables: `profile.traits.<n>`, `profile.computed.<n>`.
trait_names = Table(
    "trait_names",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("name", String(200), primary_key=True),
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

# One row per journey instance (tenant, journey, profile): where its latest run is.
journey_instances = Table(
    "journey_instances",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("journey_id", String(100), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("journey_version", Integer, nullable=False),
    Column("run", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("step_id", String(64), nullable=False),
    Column("wait_reason", String(20), nullable=False),
    Column("wait_event", String(100), nullable=False),
    Column("due_time", UtcDateTime, nullable=True),
    Column("enter_time", UtcDateTime, nullable=False),
    Column("exit_reason", String(20), nullable=False),
    Column("stream_version", Integer, nullable=False),
)
# a profile's instances, for its events, merges and forgets: an index seek
Index("ix_journey_instances_profile", journey_instances.c.tenant_id, journey_instances.c.profile_id)
# waiting runs per journey and step, for the stats
Index(
    "ix_journey_instances_waiting",
    journey_instances.c.tenant_id,
    journey_instances.c.journey_id,
    journey_instances.c.active,
)

# Counts per journey version and step ('' for the journey): entered, sent, suppressed:<reason>...
journey_step_counts = Table(
    "journey_step_counts",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("journey_id", String(100), primary_key=True),
    Column("journey_version", Integer, primary_key=True),
    Column("step_id", String(64), primary_key=True),
    Column("metric", String(100), primary_key=True),
    Column("count", BigInteger, nullable=False),
)

# Audience membership from identity's AudienceEntered/AudienceExited: one row per tenant,
# audience and profile; a left member's row stays (member false) to hold the version that
# decided, so a late older event changes nothing. A scheduled entry's pages walk the key.
audience_members = Table(
    "audience_members",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("audience_id", String(100), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("member", Boolean, nullable=False),
    Column("version", BigInteger, nullable=False),
)
# a profile's memberships, for its merges and forgets: an index seek
Index("ix_audience_members_profile", audience_members.c.tenant_id, audience_members.c.profile_id)
