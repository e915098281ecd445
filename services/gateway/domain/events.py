"""What happens to a tenant, in the past tense; immutable, with aware UTC times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TenantCreated:
    tenant_id: str
    display_name: str
    create_time: datetime


@dataclass(frozen=True)
class ApiKeyIssued:
    """Only the SHA-256 of the secret is ever recorded."""

    key_id: str
    secret_sha256: str
    scopes: tuple[str, ...]
    display_name: str
    issue_time: datetime


@dataclass(frozen=True)
class ApiKeyRevoked:
    key_id: str
    reason: str
    revoke_time: datetime


TenantEvent = TenantCreated | ApiKeyIssued | ApiKeyRevoked
