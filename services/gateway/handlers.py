"""The gateway's service layer: one function per command or query, on its unit of work.

Tenant, principal and key commands run inside a unit of work (sync, on the
database pool) with the acting principal recorded on their events. Ingest and
profile lookups are async, since they talk to NATS and identity: ingest reads and
records message ids in units of work of their own, run through a `Layer`, and
never holds a transaction across the publish.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from layercake.gateway.v1.ingest_pb2 import IngestEvent
from layercake.identity.v1 import identity_service_pb2 as ipb
from services.gateway import ingest_mapping
from services.gateway.domain import keys
from services.gateway.domain.accounts import Account, KeyView, PrincipalView
from services.gateway.domain.commands import (
    CreatePrincipal,
    CreateTenant,
    EnsureTenant,
    GrantRole,
    IssueApiKey,
    RevokeApiKey,
    RevokeRole,
)
from services.gateway.domain.errors import ApiKeyNotFound, PrincipalNotFound
from services.gateway.domain.ingest import (
    Limits,
    Outcome,
    Status,
    Verdict,
    judge,
    request_violations,
)
from services.gateway.domain.keys import Caller, KeyRecord
from services.gateway.domain.tenant import Tenant
from services.gateway.domain.tracking_plan import judge_planned
from services.gateway.ingest_commits import Fresh, IngestCommits
from services.gateway.ports import GatewayUnitOfWork
from services.gateway.tracking_plans import TrackingPlans, count_planned
from services.kernel import telemetry
from services.kernel.errors import FieldViolation, InvalidArgument, Violations
from services.kernel.pagination import Page, page_request, paged
from services.kernel.principals import Actor, Principal, PrincipalKind, Role, Scope
from services.kernel.service_layer import Layer

T = TypeVar("T")

DEFAULT_PAGE = 100
MAX_PAGE = 1000


@dataclass(frozen=True)
class Ingest:
    """One ingest request with what the door knows of it: its encoded size, when it came,
    the client's `sent_at`, the bounds and dedupe window in force, and, by index, what a
    door translating another format (Segment's) already found wrong with an event."""

    events: Sequence[IngestEvent]
    size: int
    receive_time: datetime
    sent_at: datetime | None
    limits: Limits
    dedupe_window: timedelta
    refused: Mapping[int, tuple[FieldViolation, ...]] = field(default_factory=dict)


class ProfileDirectory(Protocol):
    """The identity service, as the gateway asks it about profiles."""

    async def get_profile(self, request: ipb.GetProfileRequest) -> ipb.GetProfileResponse: ...

    async def forget_profile(
        self, request: ipb.ForgetProfileRequest
    ) -> ipb.ForgetProfileResponse: ...


@dataclass(frozen=True)
class IssuedKey:
    """A key as handed out: the full text exists only here, never in the store."""

    key: KeyView
    text: str

    @property
    def key_id(self) -> str:
        return self.key.key_id

    @property
    def principal(self) -> Principal:
        return self.key.principal

    @property
    def tenant_id(self) -> str:
        return self.key.principal.tenant_id


def create_tenant(uow: GatewayUnitOfWork, cmd: CreateTenant, actor: Actor) -> Tenant:
    tenant = uow.tenants.get(cmd.tenant_id) if cmd.tenant_id else Tenant()
    tenant.create(cmd.tenant_id, cmd.display_name, uow.now())
    uow.tenants.save(tenant, actor)
    uow.commit()
    return tenant


def create_principal(uow: GatewayUnitOfWork, cmd: CreatePrincipal, actor: Actor) -> PrincipalView:
    uow.tenants.get(cmd.tenant_id).require_exists()
    account, _ = _change(
        uow,
        cmd.tenant_id,
        cmd.principal_id,
        actor,
        lambda a, at: a.create(cmd.kind, cmd.display_name, cmd.roles, at),
    )
    return account.view()


def grant_role(uow: GatewayUnitOfWork, cmd: GrantRole, actor: Actor) -> PrincipalView:
    account, _ = _change(
        uow, cmd.tenant_id, cmd.principal_id, actor, lambda a, at: a.grant_role(cmd.role, at)
    )
    return account.view()


def revoke_role(uow: GatewayUnitOfWork, cmd: RevokeRole, actor: Actor) -> PrincipalView:
    """The principal's keys keep their scopes but may use only what its roles still grant."""
    account, _ = _change(
        uow, cmd.tenant_id, cmd.principal_id, actor, lambda a, at: a.revoke_role(cmd.role, at)
    )
    return account.view()


def issue_api_key(uow: GatewayUnitOfWork, cmd: IssueApiKey, actor: Actor) -> IssuedKey:
    _, issued = _change(
        uow,
        cmd.tenant_id,
        cmd.principal_id,
        actor,
        lambda a, at: _issue(a, cmd.scopes, cmd.display_name, at),
    )
    return issued


def revoke_api_key(uow: GatewayUnitOfWork, cmd: RevokeApiKey, actor: Actor) -> KeyView:
    """Only a key of `cmd.tenant_id`: another tenant's key id is not found."""
    owner = uow.api_keys.get(cmd.tenant_id, cmd.key_id)
    if owner is None:
        raise ApiKeyNotFound(f"tenant {cmd.tenant_id!r} has no key {cmd.key_id[:40]!r}")
    account, key = _change(
        uow,
        cmd.tenant_id,
        owner.principal.actor.id,
        actor,
        lambda a, at: a.revoke_key(cmd.key_id, cmd.reason, at),
    )
    return account.key_view(key)


def ensure_tenant(
    uow: GatewayUnitOfWork, cmd: EnsureTenant, actor: Actor
) -> tuple[IssuedKey, bool]:
    """The tenant, its admin person principal, and a working key of it; True when a new key
    was issued. Idempotent: run it at every start and it changes nothing once the key works."""
    scopes = keys.check_scopes(cmd.scopes) or frozenset(Scope)
    tenant = uow.tenants.get(cmd.tenant_id)
    if not tenant.exists:
        tenant.create(cmd.tenant_id, cmd.display_name, uow.now())
    uow.tenants.save(tenant, actor)
    account = uow.accounts.get(cmd.tenant_id, cmd.principal_id)
    if not account.exists:
        account.create(PrincipalKind.PERSON, "", [Role.ADMIN], uow.now())
    elif Role.ADMIN not in account.roles:
        account.grant_role(Role.ADMIN, uow.now())
    current = keys.parse_key(cmd.current_key)
    record = account.key_record(current.key_id) if current is not None else None
    if record is not None and keys.works(cmd.current_key, record, scopes):
        result = IssuedKey(account.key_view(account.keys[record.key_id]), cmd.current_key)
        issued_now = False
    else:
        wanted = [s.value for s in scopes]
        result = _issue(account, wanted, cmd.display_name or "operator key", uow.now())
        issued_now = True
    uow.accounts.save(account, actor)
    uow.commit()
    return result, issued_now


def get_principal(uow: GatewayUnitOfWork, tenant_id: str, principal_id: str) -> PrincipalView:
    found = uow.principals.get(tenant_id, principal_id)
    if found is None:
        raise PrincipalNotFound(f"tenant {tenant_id!r} has no principal {principal_id[:128]!r}")
    return found


def list_principals(
    uow: GatewayUnitOfWork, tenant_id: str, page_size: int, page_token: str
) -> Page[PrincipalView]:
    after, limit = page_request(page_size, page_token, DEFAULT_PAGE, MAX_PAGE)
    found = uow.principals.list(tenant_id, after, limit + 1)
    return paged(found, limit, lambda p: p.principal_id)


def list_api_keys(
    uow: GatewayUnitOfWork, tenant_id: str, principal_id: str, page_size: int, page_token: str
) -> Page[KeyView]:
    after, limit = page_request(page_size, page_token, DEFAULT_PAGE, MAX_PAGE)
    found = uow.api_keys.list(tenant_id, principal_id, after, limit + 1)
    return paged(found, limit, lambda k: k.key_id)


def find_api_keys(uow: GatewayUnitOfWork, key_ids: Collection[str]) -> dict[str, KeyRecord]:
    """The keys with their principals' current roles: what the door's key cache holds."""
    return uow.api_keys.find(key_ids)


def active_api_keys(uow: GatewayUnitOfWork) -> list[KeyRecord]:
    """Every key not revoked, with its principal's current roles: what a key cache starts from."""
    return uow.api_keys.active()


def prune_message_ids(uow: GatewayUnitOfWork, now: datetime, limit: int) -> int:
    """Deletes at most `limit` message ids whose window ended; returns how many."""
    pruned = uow.message_ids.prune(now, limit)
    uow.commit()
    return pruned


def _change(
    uow: GatewayUnitOfWork,
    tenant_id: str,
    principal_id: str,
    actor: Actor,
    change: Callable[[Account, datetime], T],
) -> tuple[Account, T]:
    """Loads a principal's account, applies `change`, appends its events as `actor`, commits."""
    account = uow.accounts.get(tenant_id, principal_id)
    result = change(account, uow.now())
    uow.accounts.save(account, actor)
    uow.commit()
    return account, result


def _issue(account: Account, scopes: Sequence[str], display_name: str, at: datetime) -> IssuedKey:
    new = keys.new_key()
    key = account.issue_key(new.key_id, new.secret_sha256, scopes, display_name, at)
    return IssuedKey(account.key_view(key), new.text)


async def ingest(
    commits: IngestCommits,
    layer: Layer[GatewayUnitOfWork],
    plans: TrackingPlans,
    caller: Caller,
    request: Ingest,
) -> list[Outcome]:
    """Judges each event on its own (the ingest rules, then the tenant's tracking plan),
    and hands the good ones to the group commit, which drops repeats of message ids
    accepted within the dedupe window, makes the rest durable in INGEST and remembers them.

    Refuses the request whole only when it breaks a request bound (count, bytes). `caller`
    is admitted (authenticated, scope checked): the tenant is the key's. Accepted ids are
    remembered behind the answer: a crash before leaves a repeat to consumers' inboxes,
    which still apply it once. Each event is encoded once: its size, then its stored bytes.
    """
    limits = request.limits
    bad = request_violations(len(request.events), request.size, limits)
    if bad:
        raise InvalidArgument(bad)
    encoded = [e.SerializeToString() for e in request.events]
    incoming = [
        ingest_mapping.incoming(e, len(b)) for e, b in zip(request.events, encoded, strict=True)
    ]
    verdicts = judge(incoming, limits, request.receive_time, request.sent_at, request.refused)
    plan = await plans.get(caller.tenant_id)
    if plan is not None:
        verdicts, counts = judge_planned(plan, verdicts, incoming)
        if counts:
            await layer.run(count_planned, caller.tenant_id, counts, request.receive_time)
    outcomes: list[Outcome | None] = [None] * len(verdicts)
    fresh: list[Verdict] = []
    kept: list[tuple[str, bytes]] = []  # (message id, the event's bytes as stored)
    for verdict, event, data, read in zip(verdicts, request.events, encoded, incoming, strict=True):
        if verdict.rejected:
            outcomes[verdict.index] = _outcome(verdict, Status.REJECTED)
        elif not verdict.repeats_earlier:
            assert verdict.timestamp is not None
            fresh.append(verdict)
            kept.append(
                (
                    verdict.message_id,
                    ingest_mapping.timed(event, data, read.timestamp, verdict.timestamp),
                )
            )
    messages = ingest_mapping.event_ingested(
        caller.tenant_id, kept, request.receive_time, caller.key_id, telemetry.current_traceparent()
    )
    published = await commits.commit(
        caller.tenant_id,
        [Fresh(v.message_id, m) for v, m in zip(fresh, messages, strict=True)],
        request.receive_time,
        request.receive_time + request.dedupe_window,
    )
    first: dict[str, int] = {}
    for verdict, p in zip(fresh, published, strict=True):
        status = Status.DUPLICATE if p.duplicate else Status.ACCEPTED
        outcomes[verdict.index] = _outcome(verdict, status, p.sequence)
        first[verdict.message_id] = p.sequence
    for verdict in verdicts:  # a repeat within the request points where its first went
        if outcomes[verdict.index] is None:
            sequence = first.get(verdict.message_id, 0)
            outcomes[verdict.index] = _outcome(verdict, Status.DUPLICATE, sequence)
    return [o for o in outcomes if o is not None]


def _outcome(verdict: Verdict, status: Status, sequence: int = 0) -> Outcome:
    """An accepted event's violations are its tracking plan's flags."""
    found = verdict.violations or verdict.flags
    return Outcome(verdict.index, verdict.message_id, status, sequence, found)


async def get_profile(
    directory: ProfileDirectory, caller: Caller, profile_ref: str
) -> ipb.GetProfileResponse:
    """Asks identity, in the caller's tenant only."""
    check_profile_ref(profile_ref)
    return await directory.get_profile(
        ipb.GetProfileRequest(tenant_id=caller.tenant_id, profile_ref=profile_ref)
    )


async def forget_profile(
    directory: ProfileDirectory, caller: Caller, profile_ref: str, request_id: str
) -> ipb.ForgetProfileResponse:
    """Asks identity to forget, in the caller's tenant only; identity answers a retry with
    the same `request_id` as the first time."""
    check_profile_ref(profile_ref)
    return await directory.forget_profile(
        ipb.ForgetProfileRequest(
            tenant_id=caller.tenant_id, profile_ref=profile_ref, request_id=request_id
        )
    )


def check_profile_ref(profile_ref: str) -> None:
    """INVALID_ARGUMENT naming `profile_ref` when empty or too long to be one."""
    bad = Violations()
    bad.require(profile_ref.strip(), "profile_ref")
    if len(profile_ref) > 512:
        bad.add("profile_ref", "must be at most 512 characters")
    bad.raise_if_any()
