"""Identity's ProfileUpdated as test data: the protobuf, and how it travels (outbox, envelope)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from google.protobuf.message import Message

from layercake.common.v1 import common_pb2
from layercake.events.v1 import identity_events_pb2
from services.kernel.messaging import subjects
from services.kernel.messaging.envelope import Envelope
from services.kernel.protobuf import to_timestamp
from services.kernel.store.records import OutboxMessage

PROFILE_UPDATED = identity_events_pb2.ProfileUpdated.DESCRIPTOR.full_name
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def profile_updated(
    tenant_id: str,
    profile_id: str,
    version: int,
    *,
    traits: Mapping[str, object] | None = None,
    raw_traits: Mapping[str, str] | None = None,
    consent: Mapping[str, bool] | None = None,
    identifiers: Sequence[tuple[str, str]] = (),
    identifier_count: int | None = None,
) -> identity_events_pb2.ProfileUpdated:
    """A change at `version`: `traits` are JSON-encoded as identity does, `raw_traits` go in
    as given (bad JSON); `identifiers` are linked, the count defaulting to how many."""
    encoded = {k: json.dumps(v) for k, v in (traits or {}).items()} | dict(raw_traits or {})
    return identity_events_pb2.ProfileUpdated(
        tenant_id=tenant_id,
        profile_id=profile_id,
        version=version,
        traits={
            k: common_pb2.TraitValue(json_value=v, set_time=to_timestamp(AT))
            for k, v in encoded.items()
        },
        linked_identifiers=[common_pb2.Identifier(type=t, value=v) for t, v in identifiers],
        identifier_count=len(identifiers) if identifier_count is None else identifier_count,
        consent=dict(consent or {}),
        update_time=to_timestamp(AT),
    )


def as_outbox(
    message: identity_events_pb2.ProfileUpdated,
    *,
    event_id: str | None = None,
    type: str = PROFILE_UPDATED,
    payload: bytes | None = None,
) -> OutboxMessage:
    """The message as identity's relay publishes it, on its tenant's profile_updated subject."""
    tenant = message.tenant_id
    return OutboxMessage(
        subject=subjects.integration(tenant, "identity", "profile_updated"),
        type=type,
        payload=message.SerializeToString() if payload is None else payload,
        tenant_id=tenant,
        event_id=event_id or str(uuid.uuid4()),
        source="identity",
        subject_ref=message.profile_id,
    )


def profiles_merged(
    tenant_id: str, survivor: str, merged: Sequence[str], version: int
) -> OutboxMessage:
    """Identity's ProfilesMerged as its relay publishes it (a new event id each call)."""
    message = identity_events_pb2.ProfilesMerged(
        tenant_id=tenant_id,
        survivor_profile_id=survivor,
        merged_profile_ids=list(merged),
        version=version,
        merge_time=to_timestamp(AT),
    )
    return _published(tenant_id, "profiles_merged", message, survivor)


def profile_forgotten(
    tenant_id: str, profile_id: str, aliases: Sequence[str] = ()
) -> OutboxMessage:
    """Identity's ProfileForgotten as its relay publishes it (a new event id each call)."""
    message = identity_events_pb2.ProfileForgotten(
        tenant_id=tenant_id,
        profile_id=profile_id,
        alias_profile_ids=list(aliases),
        version=9,
        forget_time=to_timestamp(AT),
    )
    return _published(tenant_id, "profile_forgotten", message, profile_id)


def _published(tenant_id: str, event: str, message: Message, subject_ref: str) -> OutboxMessage:
    return OutboxMessage(
        subject=subjects.integration(tenant_id, "identity", event),
        type=message.DESCRIPTOR.full_name,
        payload=message.SerializeToString(),
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        source="identity",
        subject_ref=subject_ref,
    )


def as_envelope(message: identity_events_pb2.ProfileUpdated, tenant_id: str = "") -> Envelope:
    """The message as a consumer receives it; `tenant_id` overrides the envelope's tenant."""
    record = as_outbox(message)
    return Envelope(
        event_id=record.event_id,
        type=record.type,
        source=record.source,
        tenant_id=tenant_id or record.tenant_id,
        time=AT,
        payload=record.payload,
        nats_subject=record.subject,
    )
