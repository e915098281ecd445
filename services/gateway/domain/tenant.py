"""The Tenant aggregate: a partner organisation, whose principals live in their own streams.

It checks its rules before recording an event and changes only by applying
events, so loading it is replaying its stream (`tenant-<id>`). It never saves itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.gateway.domain.errors import TenantAlreadyExists, TenantNotFound
from services.gateway.domain.events import GatewayEvent, TenantCreated
from services.kernel.aggregate import Aggregate
from services.kernel.errors import Violations

STREAM_PREFIX = "tenant-"


@dataclass
class Tenant(Aggregate[GatewayEvent]):
    tenant_id: str = ""
    display_name: str = ""
    create_time: datetime | None = None

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

    def require_exists(self) -> None:
        if not self.exists:
            raise TenantNotFound(f"no tenant {self.tenant_id!r}")

    def apply(self, event: GatewayEvent) -> None:
        # Keys recorded here before principals existed belong to no principal: ignored.
        if isinstance(event, TenantCreated):
            self.tenant_id, self.display_name = event.tenant_id, event.display_name
            self.create_time = event.create_time


def stream_id(tenant_id: str) -> str:
    return f"{STREAM_PREFIX}{tenant_id}"
