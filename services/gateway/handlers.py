"""The gateway's service layer: one function per command.

Tenant and key commands run inside a unit of work (sync, on the database pool);
ingest and profile lookups are async, since they only talk to NATS and identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from layercake.events.v1 import ingest_pb2
from layercake.identity.v1 import identity_service_pb2 as ipb
from services.gateway import mapping
from services.gateway.domain import keys
from services.gateway.domain.commands import CreateTenant, EnsureTenant, IssueApiKey, RevokeApiKey
from services.gateway.domain.ingest import batch_violations
from services.gateway.domain.keys import KeyRecord, Principal
from services.gateway.domain.tenant import Tenant
from services.gateway.store.tenants import TenantRepository, active_keys, find_key
from services.kernel import telemetry
from services.kernel.errors import InvalidArgument, Violations
from services.kernel.principals import Actor
from services.kernel.store.records import OutboxMessage
from services.kernel.store.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Published:
    """JetStream's answer for one event: its stream position, and whether it was a repeat."""

    sequence: int
    duplicate: bool


class IngestLog(Protocol):
    """Where accepted events go: durable once `append` returns, in request order."""

    async def append(self, messages: Sequence[OutboxMessage]) -> list[Published]: ...


class ProfileDirectory(Protocol):
    """The identity service, as the gateway asks it about profiles."""

    async def get_profile(self, request: ipb.GetProfileRequest) -> ipb.GetProfileResponse: ...


@dataclass(frozen=True)
class IssuedKey:
    """A key as handed out: the full text exists only here, never in the store."""

    tenant_id: str
    key_id: str
    text: str
    scopes: tuple[str, ...]


def create_tenant(uow: UnitOfWork, cmd: CreateTenant, actor: Actor) -> Tenant:
    repo = TenantRepository(uow)
    tenant = repo.get(cmd.tenant_id) if cmd.tenant_id else Tenant()
    tenant.create(cmd.tenant_id, cmd.display_name, uow.now())
    repo.save(tenant, actor)
    uow.commit()
    return tenant


def _issue(tenant: Tenant, scopes: Sequence[str], display_name: str, at: datetime) -> IssuedKey:
    key = keys.new_key()
    issued = tenant.issue_key(key.key_id, key.secret_sha256, scopes, display_name, at)
    return IssuedKey(tenant.tenant_id, key.key_id, key.text, issued.scopes)


def issue_api_key(uow: UnitOfWork, cmd: IssueApiKey, actor: Actor) -> IssuedKey:
    repo = TenantRepository(uow)
    tenant = repo.get(cmd.tenant_id)
    issued = _issue(tenant, cmd.scopes, cmd.display_name, uow.now())
    repo.save(tenant, actor)
    uow.commit()
    return issued


def revoke_api_key(uow: UnitOfWork, cmd: RevokeApiKey, actor: Actor) -> None:
    repo = TenantRepository(uow)
    tenant = repo.get(cmd.tenant_id)
    tenant.revoke_key(cmd.key_id, cmd.reason, uow.now())
    repo.save(tenant, actor)
    uow.commit()


def ensure_tenant(uow: UnitOfWork, cmd: EnsureTenant, actor: Actor) -> tuple[IssuedKey, bool]:
    """The tenant and a working key with `scopes`; True when a new key was issued.

    Idempotent: run it at every start and it changes nothing once the key works.
    """
    scopes = keys.check_scopes(cmd.scopes)
    repo = TenantRepository(uow)
    tenant = repo.get(cmd.tenant_id)
    if not tenant.exists:
        tenant.create(cmd.tenant_id, cmd.display_name, uow.now())
    current = keys.parse_key(cmd.current_key)
    record = tenant.key_record(current.key_id) if current is not None else None
    if record is not None and keys.works(cmd.current_key, record, scopes):
        result = IssuedKey(
            tenant.tenant_id, record.key_id, cmd.current_key, tuple(sorted(record.scopes))
        )
        issued_now = False
    else:
        result = _issue(tenant, scopes, cmd.display_name or "operator key", uow.now())
        issued_now = True
    repo.save(tenant, actor)
    uow.commit()
    return result, issued_now


def find_api_key(session: Session, key_id: str) -> KeyRecord | None:
    return find_key(session, key_id)


def active_api_keys(session: Session) -> list[KeyRecord]:
    return active_keys(session)


async def ingest(
    ingest_log: IngestLog,
    principal: Principal,
    events: Sequence[ingest_pb2.IngestEvent],
    receive_time: datetime,
) -> list[Published]:
    """Validates the whole batch, then publishes every event and waits for every ack.

    One bad event refuses the batch and nothing is published. `principal` is the
    admitted caller (authenticated, scope checked): the tenant is the key's.
    """
    violations = batch_violations([mapping.incoming(e) for e in events])
    if violations:
        raise InvalidArgument(violations)
    messages = mapping.event_ingested(
        principal.tenant_id,
        events,
        receive_time,
        principal.key_id,
        telemetry.current_traceparent(),
    )
    return await ingest_log.append(messages)


async def get_profile(
    directory: ProfileDirectory, principal: Principal, profile_ref: str
) -> ipb.GetProfileResponse:
    """Asks identity, in the caller's tenant only."""
    bad = Violations()
    bad.require(profile_ref.strip(), "profile_ref")
    if len(profile_ref) > 512:
        bad.add("profile_ref", "must be at most 512 characters")
    bad.raise_if_any()
    return await directory.get_profile(
        ipb.GetProfileRequest(tenant_id=principal.tenant_id, profile_ref=profile_ref)
    )
