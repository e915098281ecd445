"""A tenant's send settings: each change an event (the whole settings, who and why) on the
tenant's `send-settings/<tenant>` stream, and published, so every replica drops its cached
policy and the next send follows the new one (no restart). A tenant that never changed them
follows the deployment's defaults (the process's environment).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from layercake.orchestrator.v1 import send_settings_pb2 as pb
from services.kernel.messaging import subjects
from services.kernel.messaging.broadcast import BroadcastSpec
from services.kernel.principals import Principal
from services.kernel.protobuf import from_timestamp, to_timestamp
from services.kernel.store.records import EventMetadata, NewEvent, OutboxMessage
from services.kernel.tenant_cache import TenantCache
from services.kernel.unit_of_work import AbstractUnitOfWork
from services.orchestrator.domain.send_settings import QuietSetting, SendSettings
from services.orchestrator.mapping import SOURCE, send_settings_of, send_settings_proto
from services.orchestrator.sends import SendPolicy

STREAM_PREFIX = "send-settings/"
CHANGED = "send_settings_changed"
SEND_SETTINGS_CHANGED = pb.SendSettingsChanged.DESCRIPTOR.full_name


@dataclass(frozen=True)
class StoredSettings:
    """The tenant's settings, who last changed them and when (None: never)."""

    settings: SendSettings
    actor: str = ""
    update_time: datetime | None = None


def stored_settings(uow: AbstractUnitOfWork, tenant_id: str) -> StoredSettings:
    """The latest change's settings, or the empty settings (all defaults)."""
    events = uow.load(STREAM_PREFIX + tenant_id)
    if not events:
        return StoredSettings(SendSettings())
    last = pb.SendSettingsChanged.FromString(events[-1].payload)
    settings = send_settings_of(last.settings)
    return StoredSettings(settings, last.actor, from_timestamp(last.change_time))


def update_send_settings(
    uow: AbstractUnitOfWork, principal: Principal, settings: SendSettings, reason: str = ""
) -> StoredSettings:
    """Records the new settings with the principal and reason, and publishes them (in the
    caller's transaction; the caller commits)."""
    tenant, now = principal.tenant_id, uow.now()
    stream = STREAM_PREFIX + tenant
    changed = pb.SendSettingsChanged(
        tenant_id=tenant,
        settings=send_settings_proto(settings),
        actor=str(principal.actor),
        reason=reason[:500],
        change_time=to_timestamp(now),
    )
    payload = changed.SerializeToString()
    event = NewEvent(SEND_SETTINGS_CHANGED, payload)
    version = len(uow.load(stream))
    uow.append(stream, version, [event], EventMetadata(tenant_id=tenant, actor=principal.actor))
    uow.publish(
        OutboxMessage(
            subject=subjects.integration(tenant, SOURCE, CHANGED),
            type=SEND_SETTINGS_CHANGED,
            payload=payload,
            tenant_id=tenant,
            event_id=event.event_id,
            source=SOURCE,
        )
    )
    return StoredSettings(settings, str(principal.actor), now)


def effective_policy(defaults: SendPolicy, settings: SendSettings) -> SendPolicy:
    """The deployment's policy with the tenant's parts put in."""
    policy = defaults
    if settings.caps is not None:
        policy = replace(policy, caps=settings.caps)
    if settings.quiet is not None:
        zone = settings.quiet.default_time_zone or defaults.default_time_zone
        policy = replace(policy, quiet_hours=settings.quiet.hours, default_time_zone=zone)
    return policy


def as_settings(policy: SendPolicy) -> SendSettings:
    """A policy with every part set, as settings (what applies, in full)."""
    return SendSettings(policy.caps, QuietSetting(policy.quiet_hours, policy.default_time_zone))


class SendPolicies:
    """Tenant -> the policy its sends follow, loaded in the sending transaction on first
    use and dropped on every replica by the tenant's `send_settings_changed`."""

    def __init__(self, defaults: SendPolicy) -> None:
        self.defaults = defaults
        self._cache: TenantCache[AbstractUnitOfWork, SendPolicy] = TenantCache(
            self._load,
            name="orchestrator-send-settings",
            stream="ORCHESTRATOR",
            filter_subject=subjects.integration("*", SOURCE, CHANGED),
        )

    def _load(self, uow: AbstractUnitOfWork, tenant_id: str) -> SendPolicy:
        return effective_policy(self.defaults, stored_settings(uow, tenant_id).settings)

    def policy(self, uow: AbstractUnitOfWork, tenant_id: str) -> SendPolicy:
        return self._cache.get(uow, tenant_id)

    def invalidate(self, tenant_id: str) -> None:
        """This replica's own change: dropped at once, before the broadcast comes round."""
        self._cache.invalidate(tenant_id)

    def broadcast(self) -> BroadcastSpec:
        return self._cache.broadcast()
