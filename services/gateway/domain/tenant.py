"""The Tenant aggregate: a partner organisation and the API keys it holds.

It checks its rules before recording an event and changes only by applying
events, so loading it is replaying its stream (`tenant-<id>`). It never saves itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.gateway.domain.errors import (
    ApiKeyAlreadyIssued,
    ApiKeyAlreadyRevoked,
    ApiKeyNotFound,
    TenantAlreadyExists,
    TenantNotFound,
)
from services.gateway.domain.events import ApiKeyIssued, ApiKeyRevoked, TenantCreated, TenantEvent
from services.gateway.domain.keys import KeyRecord, check_scopes
from services.kernel.aggregate import Aggregate
from services.kernel.errors import Violations

STREAM_PREFIX = "tenant-"


@dataclass
class ApiKey:
    key_id: str
    secret_sha256: str
    scopes: tuple[str, ...]
    display_name: str
    issue_time: datetime
    revoke_time: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoke_time is not None


@dataclass
class Tenant(Aggregate[TenantEvent]):
    tenant_id: str = ""
    display_name: str = ""
    create_time: datetime | None = None
    keys: dict[str, ApiKey] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.create_time is not None

    @property
    def stream_id(self) -> str:
        return stream_id(self.tenant_id)

    def create(self, tenant_id: str, display_name: str, at: datetime) -> None:
        """Only an empty stream can become a tenant: a tenant id is never reused."""
        if self.exists:
            raise TenantAlreadyExists(f"tenant {self.tenant_id!r} already exists")
        bad = Violations()
        bad.require_tenant(tenant_id, "tenant_id")
        if len(display_name) > 200:
            bad.add("display_name", "must be at most 200 characters")
        bad.raise_if_any()
        self._record(TenantCreated(tenant_id, display_name or tenant_id, at))

    def issue_key(
        self,
        key_id: str,
        secret_sha256: str,
        scopes: Sequence[str],
        display_name: str,
        at: datetime,
    ) -> ApiKey:
        self._require_exists()
        if key_id in self.keys:
            raise ApiKeyAlreadyIssued(f"key {key_id} already issued")
        self._record(ApiKeyIssued(key_id, secret_sha256, check_scopes(scopes), display_name, at))
        return self.keys[key_id]

    def revoke_key(self, key_id: str, reason: str, at: datetime) -> None:
        self._require_exists()
        key = self.keys.get(key_id)
        if key is None:
            raise ApiKeyNotFound(f"tenant {self.tenant_id!r} has no key {key_id}")
        if key.revoked:
            raise ApiKeyAlreadyRevoked(f"key {key_id} is already revoked")
        self._record(ApiKeyRevoked(key_id, reason, at))

    def key_record(self, key_id: str) -> KeyRecord | None:
        key = self.keys.get(key_id)
        if key is None:
            return None
        return KeyRecord(
            key_id, self.tenant_id, key.secret_sha256, frozenset(key.scopes), key.revoked
        )

    def _require_exists(self) -> None:
        if not self.exists:
            raise TenantNotFound(f"no tenant {self.tenant_id!r}")

    def apply(self, event: TenantEvent) -> None:
        match event:
            case TenantCreated(tenant_id, display_name, create_time):
                self.tenant_id, self.display_name = tenant_id, display_name
                self.create_time = create_time
            case ApiKeyIssued(key_id, secret_sha256, scopes, display_name, issue_time):
                self.keys[key_id] = ApiKey(key_id, secret_sha256, scopes, display_name, issue_time)
            case ApiKeyRevoked(key_id, _, revoke_time):
                self.keys[key_id].revoke_time = revoke_time


def stream_id(tenant_id: str) -> str:
    return f"{STREAM_PREFIX}{tenant_id}"
