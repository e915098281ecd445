"""What happens to a tenant and its principals, in the past tense; immutable, aware UTC times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.kernel.principals import PrincipalKind, Role, Scope


@dataclass(frozen=True)
class TenantCreated:
    tenant_id: str
    display_name: str
    create_time: datetime


@dataclass(frozen=True)
class PrincipalCreated:
    principal_id: str
    kind: PrincipalKind
    display_name: str
    create_time: datetime


@dataclass(frozen=True)
class RoleGranted:
    principal_id: str
    role: Role
    grant_time: datetime


@dataclass(frozen=True)
class RoleRevoked:
    principal_id: str
    role: Role
    revoke_time: datetime


@dataclass(frozen=True)
class ApiKeyIssued:
    """Only the SHA-256 of the secret is ever recorded."""

    principal_id: str
    key_id: str
    secret_sha256: str
    scopes: frozenset[Scope]
    display_name: str
    issue_time: datetime


@dataclass(frozen=True)
class ApiKeyRevoked:
    principal_id: str
    key_id: str
    reason: str
    revoke_time: datetime


@dataclass(frozen=True)
class TrackingPlanApplied:
    """The tenant's whole plan, canonical JSON, replacing the one before."""

    tenant_id: str
    plan_json: str
    apply_time: datetime


TenantEvent = TenantCreated
PrincipalEvent = PrincipalCreated | RoleGranted | RoleRevoked | ApiKeyIssued | ApiKeyRevoked
GatewayEvent = TenantEvent | PrincipalEvent | TrackingPlanApplied
