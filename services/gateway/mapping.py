"""Protobuf <-> domain for the gateway: the one place that knows both."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from google.protobuf import struct_pb2
from google.protobuf.message import Message

from layercake.events.v1 import gateway_events_pb2, ingest_pb2
from layercake.gateway.v1 import gateway_service_pb2, principal_pb2
from layercake.gateway.v1 import tenant_events_pb2 as te
from layercake.gateway.v1.ingest_pb2 import IngestEvent
from services.gateway.domain.accounts import KeyView, PrincipalView
from services.gateway.domain.events import (
    ApiKeyIssued,
    ApiKeyRevoked,
    GatewayEvent,
    PrincipalCreated,
    RoleGranted,
    RoleRevoked,
    TenantCreated,
    TrackingPlanApplied,
)
from services.gateway.domain.ingest import IncomingEvent, Outcome, Status
from services.gateway.domain.tracking_plan import PlanCount, TrackingPlan
from services.kernel.clipping import DESCRIPTION_BYTES, FIELD_BYTES, clip
from services.kernel.messaging import subjects
from services.kernel.principals import PrincipalKind, Role, Scope
from services.kernel.protobuf import from_timestamp, plain_object, plain_value
from services.kernel.protobuf import to_timestamp as ts
from services.kernel.store.event_types import EventTypes
from services.kernel.store.records import OutboxMessage

EVENT_INGESTED = ingest_pb2.EventIngested.DESCRIPTOR.full_name
SOURCE = "gateway"

# Fixed forever: ingest event ids are uuid5(INGEST_NAMESPACE, "<tenant>/<message_id>").
INGEST_NAMESPACE = uuid.UUID("6c0d2f5e-3f4b-5a8e-9a51-1a7e6b1c0de5")


def _scopes(scopes: Iterable[Scope]) -> list[str]:
    return sorted(s.value for s in scopes)


def _principal_created(event: PrincipalCreated, _: None) -> Message:
    return te.PrincipalCreated(
        principal_id=event.principal_id,
        kind=event.kind.value,
        display_name=event.display_name,
        create_time=ts(event.create_time),
    )


def _principal_created_event(m: te.PrincipalCreated, _: None) -> PrincipalCreated:
    return PrincipalCreated(
        m.principal_id, PrincipalKind(m.kind), m.display_name, from_timestamp(m.create_time)
    )


def _role_granted(event: RoleGranted, _: None) -> Message:
    return te.RoleGranted(
        principal_id=event.principal_id, role=event.role.value, grant_time=ts(event.grant_time)
    )


def _role_granted_event(m: te.RoleGranted, _: None) -> RoleGranted:
    return RoleGranted(m.principal_id, Role(m.role), from_timestamp(m.grant_time))


def _role_revoked(event: RoleRevoked, _: None) -> Message:
    return te.RoleRevoked(
        principal_id=event.principal_id, role=event.role.value, revoke_time=ts(event.revoke_time)
    )


def _role_revoked_event(m: te.RoleRevoked, _: None) -> RoleRevoked:
    return RoleRevoked(m.principal_id, Role(m.role), from_timestamp(m.revoke_time))


def _api_key_issued(event: ApiKeyIssued, _: None) -> Message:
    return te.ApiKeyIssued(
        principal_id=event.principal_id,
        key_id=event.key_id,
        secret_sha256=event.secret_sha256,
        scopes=_scopes(event.scopes),
        display_name=event.display_name,
        issue_time=ts(event.issue_time),
    )


def _api_key_issued_event(m: te.ApiKeyIssued, _: None) -> ApiKeyIssued:
    return ApiKeyIssued(
        m.principal_id,
        m.key_id,
        m.secret_sha256,
        frozenset(Scope(s) for s in m.scopes),
        m.display_name,
        from_timestamp(m.issue_time),
    )


# Every event the gateway stores; a new one is a proto message, a dataclass and a line here
# (with its codec when the dataclass holds kernel enums rather than the message's strings).
EVENTS: EventTypes[GatewayEvent, None] = EventTypes()
EVENTS.register(te.TenantCreated, TenantCreated)
EVENTS.register(
    te.PrincipalCreated,
    PrincipalCreated,
    encode=_principal_created,  # type: ignore[arg-type]
    decode=_principal_created_event,  # type: ignore[arg-type]
)
EVENTS.register(
    te.RoleGranted,
    RoleGranted,
    encode=_role_granted,  # type: ignore[arg-type]
    decode=_role_granted_event,  # type: ignore[arg-type]
)
EVENTS.register(
    te.RoleRevoked,
    RoleRevoked,
    encode=_role_revoked,  # type: ignore[arg-type]
    decode=_role_revoked_event,  # type: ignore[arg-type]
)
EVENTS.register(
    te.ApiKeyIssued,
    ApiKeyIssued,
    encode=_api_key_issued,  # type: ignore[arg-type]
    decode=_api_key_issued_event,  # type: ignore[arg-type]
)
EVENTS.register(te.ApiKeyRevoked, ApiKeyRevoked)
EVENTS.register(te.TrackingPlanApplied, TrackingPlanApplied)


def integration_event(
    tenant_id: str, event: GatewayEvent, at: datetime, traceparent: str = ""
) -> OutboxMessage | None:
    """What every gateway replica must hear of, as published: a change of what keys may do
    (a key revoked, a role granted or revoked) or of a tracking plan; None otherwise.

    Issued keys are not published: a replica that misses a key in its cache reads the store.
    """
    message: Message
    ref = getattr(event, "principal_id", tenant_id)
    match event:
        case ApiKeyRevoked(principal_id, key_id, _, revoke_time):
            message = gateway_events_pb2.ApiKeyRevoked(
                tenant_id=tenant_id,
                principal_id=principal_id,
                key_id=key_id,
                revoke_time=ts(revoke_time),
            )
        case RoleGranted(principal_id, role, grant_time):
            message = gateway_events_pb2.RoleGranted(
                tenant_id=tenant_id,
                principal_id=principal_id,
                role=role.value,
                grant_time=ts(grant_time),
            )
        case RoleRevoked(principal_id, role, revoke_time):
            message = gateway_events_pb2.RoleRevoked(
                tenant_id=tenant_id,
                principal_id=principal_id,
                role=role.value,
                revoke_time=ts(revoke_time),
            )
        case TrackingPlanApplied(_, _, apply_time):
            message = gateway_events_pb2.TrackingPlanApplied(
                tenant_id=tenant_id, apply_time=ts(apply_time)
            )
        case _:
            return None
    name = "".join(f"_{c.lower()}" if c.isupper() else c for c in message.DESCRIPTOR.name)
    return OutboxMessage(
        subject=subjects.integration(tenant_id, SOURCE, name.lstrip("_")),
        type=message.DESCRIPTOR.full_name,
        payload=message.SerializeToString(),
        tenant_id=tenant_id,
        source=SOURCE,
        subject_ref=ref,
        traceparent=traceparent,
        created_time=at,
    )


def incoming(event: IngestEvent) -> IncomingEvent:
    """What the ingest rules look at; a timestamp out of protobuf's range counts as missing."""
    timestamp: datetime | None = None
    if event.HasField("timestamp"):
        try:
            timestamp = from_timestamp(event.timestamp)
        except (ValueError, OverflowError):
            timestamp = None
    return IncomingEvent(
        message_id=event.message_id,
        type=event.type,
        event=event.event,
        timestamp=timestamp,
        identifiers={k: plain_value(v) for k, v in event.identifiers.fields.items()},
        consent=dict(event.consent),
        payloads={
            "traits": plain_object(event.traits),
            "properties": plain_object(event.properties),
            "context": plain_object(event.context),
        },
        size=event.ByteSize(),
    )


def timed(event: IngestEvent, when: datetime) -> IngestEvent:
    """The event with the time the rules settled on (corrected for the client's clock)."""
    if from_timestamp(event.timestamp) == when:
        return event
    corrected = IngestEvent()
    corrected.CopyFrom(event)
    corrected.timestamp.CopyFrom(ts(when))
    return corrected


def ingest_result(outcome: Outcome) -> gateway_service_pb2.IngestResult:
    return gateway_service_pb2.IngestResult(
        message_id=outcome.message_id,
        index=outcome.index,
        sequence=outcome.sequence,
        status=_STATUS[outcome.status],
        violations=[
            gateway_service_pb2.FieldViolation(
                field=clip(v.field, FIELD_BYTES), description=clip(v.description, DESCRIPTION_BYTES)
            )
            for v in outcome.violations
        ],
    )


_STATUS = {
    Status.ACCEPTED: gateway_service_pb2.IngestResult.STATUS_ACCEPTED,
    Status.DUPLICATE: gateway_service_pb2.IngestResult.STATUS_DUPLICATE,
    Status.REJECTED: gateway_service_pb2.IngestResult.STATUS_REJECTED,
}


def internal_event(event: IngestEvent) -> ingest_pb2.IngestEvent:
    """The partner's event as INGEST carries it: the two messages are wire-compatible (same
    field numbers and types, tested), so the bytes are read again as the other."""
    return ingest_pb2.IngestEvent.FromString(event.SerializeToString())


def ingest_event_id(tenant_id: str, message_id: str) -> str:
    """Deterministic per (tenant, message_id): a retry gets the same `ce-id`/`Nats-Msg-Id`."""
    return str(uuid.uuid5(INGEST_NAMESPACE, f"{tenant_id}/{message_id}"))


def event_ingested(
    tenant_id: str,
    events: Sequence[IngestEvent],
    receive_time: datetime,
    api_key_id: str,
    traceparent: str = "",
) -> list[OutboxMessage]:
    """Each accepted event as the INGEST stream carries it (CloudEvents by `headers_for`)."""
    received = ts(receive_time)
    subject = subjects.ingest(tenant_id)
    return [
        OutboxMessage(
            subject=subject,
            type=EVENT_INGESTED,
            payload=ingest_pb2.EventIngested(
                tenant_id=tenant_id,
                event=internal_event(e),
                receive_time=received,
                api_key_id=api_key_id,
            ).SerializeToString(),
            tenant_id=tenant_id,
            event_id=ingest_event_id(tenant_id, e.message_id),
            source=SOURCE,
            traceparent=traceparent,
            created_time=receive_time,
        )
        for e in events
    ]


def principal_message(view: PrincipalView) -> principal_pb2.Principal:
    return principal_pb2.Principal(
        principal_id=view.principal_id,
        kind=view.principal.actor.kind.value,
        display_name=view.display_name,
        roles=sorted(r.value for r in view.principal.roles),
        create_time=ts(view.create_time),
    )


def api_key_message(view: KeyView) -> principal_pb2.ApiKey:
    key = principal_pb2.ApiKey(
        key_id=view.key_id,
        principal_id=view.principal.actor.id,
        scopes=_scopes(view.scopes),
        effective_scopes=_scopes(view.effective_scopes),
        display_name=view.display_name,
        issue_time=ts(view.issue_time),
    )
    if view.revoke_time is not None:
        key.revoke_time.CopyFrom(ts(view.revoke_time))
    return key


def struct_document(struct: struct_pb2.Struct) -> dict[str, object]:
    """A Struct as the JSON document it carries; whole numbers are ints again (a Struct
    holds only doubles), so `"maxLength": 5` stays a JSON Schema integer."""
    return _whole(plain_object(struct))  # type: ignore[return-value]


def _whole(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


def tracking_plan_message(plan: TrackingPlan) -> gateway_service_pb2.TrackingPlan:
    message = gateway_service_pb2.TrackingPlan(version=plan.version)
    if plan.content is not None:
        message.plan.update(json.loads(plan.content.to_json()))
    if plan.apply_time is not None:
        message.apply_time.CopyFrom(ts(plan.apply_time))
    return message


def tracking_plan_counts(
    counts: Mapping[str, PlanCount],
) -> list[gateway_service_pb2.TrackingPlanCount]:
    return [
        gateway_service_pb2.TrackingPlanCount(
            event_type=name,
            rejected_count=count.rejected,
            flagged_count=count.flagged,
            last_time=ts(count.last_time) if count.last_time else None,
        )
        for name, count in sorted(counts.items())
    ]
