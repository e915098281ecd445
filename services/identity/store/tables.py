"""Identity's read models: profiles and the identifier index used for resolution."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from services.kernel.store.schema import UtcDateTime

metadata = MetaData()

profiles = Table(
    "profiles",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    # {"plan": {"v": json, "t": iso time}}; personal traits only sealed: {"s": base64, "t": ...}
    Column("traits", Text, nullable=False),
    Column("consent", Text, nullable=False),  # {"purpose": bool}
    Column("create_time", UtcDateTime, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    # Set once merged: the id stays an alias and lookups answer this survivor instead.
    Column("merged_into", String(64), nullable=True),
)

# A merge moves the absorbed profile's aliases to the survivor by this index.
Index("ix_profiles_merged_into", profiles.c.tenant_id, profiles.c.merged_into)

# The primary key is the rule "one identifier, one profile" that resolution relies on.
profile_identifiers = Table(
    "profile_identifiers",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("id_type", String(80), primary_key=True),
    Column("id_value", String(256), primary_key=True),
    Column("hashed", Boolean, nullable=False),
    Column("profile_id", String(64), nullable=False),
    # Provenance: the ingest message that brought the identifier, and its event time.
    Column("message_id", String(128), nullable=True),
    Column("link_time", UtcDateTime, nullable=True),
)

Index(
    "ix_profile_identifiers_profile",
    profile_identifiers.c.tenant_id,
    profile_identifiers.c.profile_id,
)

# Each (profile, computed trait)'s window: its bucketed state (store/windows.py), the
# definition it was computed under (a changed definition starts it anew), and its expiry.
computed_trait_windows = Table(
    "computed_trait_windows",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("fingerprint", String(16), nullable=False),
    Column("state", Text, nullable=False),
)

# Who is in each audience: kept from AudienceEntered/AudienceExited by the projection;
# listed by primary key range (tenant, audience, profile id > the page token).
audience_members = Table(
    "audience_members",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("audience_id", String(100), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("audience_version", Integer, nullable=False),
    Column("enter_time", UtcDateTime, nullable=False),
)

# Each audience's size, kept with its members, so it is answered at once.
audience_sizes = Table(
    "audience_sizes",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("audience_id", String(100), primary_key=True),
    Column("size", Integer, nullable=False),
)

# Keyed digests of a forgotten person's identifiers (projected from ProfileForgotten):
# an event carrying one is suppressed.
forgotten_identifiers = Table(
    "forgotten_identifiers",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("profile_id", String(64), nullable=False),
    Column("forget_time", UtcDateTime, nullable=False),
)

# The stream messages holding each profile's data, so forgetting can erase them: the raw
# `INGEST` ones that fed it, and the `IDENTITY` ones identity published about it.
profile_messages = Table(
    "profile_messages",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("stream", String(32), primary_key=True, server_default="INGEST"),
    Column("stream_sequence", BigInteger, primary_key=True),
)

# Stream messages still to erase (stream_eraser.py deletes them, then the row).
stream_erasures = Table(
    "stream_erasures",
    metadata,
    Column("stream", String(32), primary_key=True),
    Column("stream_sequence", BigInteger, primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("request_time", UtcDateTime, nullable=False),
)

# Every forgotten profile id (aliases too): a message about one relayed after the forget
# is queued for erasure at once.
forgotten_profiles = Table(
    "forgotten_profiles",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("forget_time", UtcDateTime, nullable=False),
)

# The profiles (and their aliases) an unmerge split each profile off: their events still
# hold its identifiers, scrubbed when it is forgotten.
profile_splits = Table(
    "profile_splits",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("split_from", String(64), primary_key=True),
)

# Tenants whose dead letters a forget asked to sweep for the person's messages (the
# eraser queues what it finds in `stream_erasures`, then drops the row).
dead_letter_sweeps = Table(
    "dead_letter_sweeps",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("request_time", UtcDateTime, nullable=False),
)

# Messages refused without being resolved, and why (`forgotten`).
suppressed_messages = Table(
    "suppressed_messages",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("message_id", String(128), primary_key=True),
    Column("reason", String(64), nullable=False),
    Column("suppress_time", UtcDateTime, nullable=False),
)

# SearchProfiles' index: live profiles by trait and the SHA-256 of its JSON value (a fixed
# width whatever the value). Personal traits are not indexed: look a person up by identifier.
profile_trait_index = Table(
    "profile_trait_index",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("trait", String(128), primary_key=True),
    Column("value_hash", String(64), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
)
