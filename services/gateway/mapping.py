"""Protobuf <-> domain for the gateway: the one place that knows both."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime

from google.protobuf import struct_pb2
from google.protobuf.message import Message

from layercake.events.v1 import gateway_events_pb2
from layercake.gateway.v1 import gateway_service_pb2, principal_pb2
from layercake.gateway.v1 import tenant_events_pb2 as te
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
from services.gateway.domain.tracking_plan import PlanCount, TrackingPlan
from services.kernel.messaging import subjects
from services.kernel.principals import PrincipalKind, Role, Scope
from services.kernel.protobuf import from_timestamp, plain_object
from services.kernel.protobuf import to_timestamp as ts
from services.kernel.store.event_types import EventTypes
from services.kernel.store.records import OutboxMessage

SOURCE = "gateway"


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
