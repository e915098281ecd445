"""The gateway's tenant, principal and key handlers on the in-memory unit of work."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.gateway import handlers
from services.gateway.domain.commands import (
    CreatePrincipal,
    CreateTenant,
    EnsureTenant,
    GrantRole,
    IssueApiKey,
    RevokeApiKey,
    RevokeRole,
)
from services.gateway.domain.errors import (
    ApiKeyNotFound,
    PrincipalNotFound,
    TenantAlreadyExists,
    TenantNotFound,
)
from services.gateway.store.memory import GatewayState, InMemoryGatewayUnitOfWork, in_memory
from services.kernel.clock import FixedClock
from services.kernel.errors import InvalidArgument
from services.kernel.principals import Actor, Role, Scope
from services.kernel.store.memory import InMemoryDatabase

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
OPERATOR = Actor.system("operator")


@pytest.fixture
def db() -> InMemoryDatabase[GatewayState]:
    store = in_memory(FixedClock(AT))
    with InMemoryGatewayUnitOfWork(store) as uow:
        handlers.create_tenant(uow, CreateTenant("acme", "Acme"), OPERATOR)
    with InMemoryGatewayUnitOfWork(store) as uow:
        ann = CreatePrincipal("acme", "ann", "person", "", ("editor",))
        handlers.create_principal(uow, ann, OPERATOR)
    return store


def uow(db: InMemoryDatabase[GatewayState]) -> InMemoryGatewayUnitOfWork:
    return InMemoryGatewayUnitOfWork(db)


def test_a_tenant_is_created_once_and_principals_need_it(
    db: InMemoryDatabase[GatewayState],
) -> None:
    with uow(db) as u, pytest.raises(TenantAlreadyExists):
        handlers.create_tenant(u, CreateTenant("acme"), OPERATOR)
    with uow(db) as u, pytest.raises(TenantNotFound):
        handlers.create_principal(u, CreatePrincipal("ghost", "ann", "person"), OPERATOR)


def test_changes_are_events_with_the_actor_and_integration_events_for_replicas(
    db: InMemoryDatabase[GatewayState],
) -> None:
    ann = Actor.parse("person:ann")
    with uow(db) as u:
        key = handlers.issue_api_key(u, IssueApiKey("acme", "ann", ("ingest",)), ann)
    with uow(db) as u:
        handlers.revoke_api_key(u, RevokeApiKey("acme", key.key_id, "leaked"), ann)
    stream = db.state.streams["principal-acme/ann"]
    assert [e.type.rsplit(".", 1)[1] for e in stream] == [
        "PrincipalCreated",
        "RoleGranted",
        "ApiKeyIssued",
        "ApiKeyRevoked",
    ]
    assert [e.metadata.actor for e in stream[2:]] == [ann, ann]
    assert [m.subject for m in db.state.outbox] == [
        "layercake.acme.gateway.role_granted",
        "layercake.acme.gateway.api_key_revoked",
    ]
    assert key.text.split("_", 2)[2] not in str(stream)  # the secret is never recorded


def test_a_key_is_revoked_only_in_its_tenant(db: InMemoryDatabase[GatewayState]) -> None:
    with uow(db) as u:
        handlers.create_tenant(u, CreateTenant("globex"), OPERATOR)
    with uow(db) as u:
        key = handlers.issue_api_key(u, IssueApiKey("acme", "ann"), OPERATOR)
    with uow(db) as u, pytest.raises(ApiKeyNotFound):
        handlers.revoke_api_key(u, RevokeApiKey("globex", key.key_id), OPERATOR)
    with uow(db) as u:
        assert not handlers.find_api_keys(u, [key.key_id])[key.key_id].revoked


def test_a_key_uses_only_what_its_principals_roles_still_grant(
    db: InMemoryDatabase[GatewayState],
) -> None:
    with uow(db) as u:
        handlers.grant_role(u, GrantRole("acme", "ann", "approver"), OPERATOR)
    with uow(db) as u:
        key = handlers.issue_api_key(u, IssueApiKey("acme", "ann"), OPERATOR)
    assert Scope.ASSETS_APPROVE in key.key.effective_scopes
    with uow(db) as u:
        handlers.revoke_role(u, RevokeRole("acme", "ann", "approver"), OPERATOR)
    with uow(db) as u:
        [listed] = handlers.list_api_keys(u, "acme", "ann", 0, "").items
        (active,) = handlers.active_api_keys(u)
    assert Scope.ASSETS_APPROVE not in listed.effective_scopes
    assert active.principal.roles == {Role.EDITOR}


def test_principals_come_in_pages_and_a_bad_token_names_the_field(
    db: InMemoryDatabase[GatewayState],
) -> None:
    for name in ("bob", "cy"):
        with uow(db) as u:
            handlers.create_principal(u, CreatePrincipal("acme", name, "system"), OPERATOR)
    seen, token = [], ""
    with uow(db) as u:
        while True:
            page = handlers.list_principals(u, "acme", 2, token)
            seen.append([p.principal_id for p in page.items])
            if not (token := page.next_page_token):
                break
        assert seen == [["ann", "bob"], ["cy"]]
        with pytest.raises(InvalidArgument) as bad:
            handlers.list_principals(u, "acme", 2, "%%%")
        assert "page_token" in str(bad.value)
        with pytest.raises(PrincipalNotFound):
            handlers.get_principal(u, "acme", "zed")


def test_ensure_tenant_keeps_a_working_key_and_replaces_a_revoked_one() -> None:
    db = in_memory(FixedClock(AT))
    with uow(db) as u:
        first, issued = handlers.ensure_tenant(u, EnsureTenant("demo"), OPERATOR)
    assert issued and first.principal.roles == {Role.ADMIN}
    with uow(db) as u:
        again, issued = handlers.ensure_tenant(
            u, EnsureTenant("demo", current_key=first.text), OPERATOR
        )
    assert not issued and again.text == first.text
    with uow(db) as u:
        handlers.revoke_api_key(u, RevokeApiKey("demo", first.key_id), OPERATOR)
    with uow(db) as u:
        fresh, issued = handlers.ensure_tenant(
            u, EnsureTenant("demo", current_key=first.text), OPERATOR
        )
    assert issued and fresh.key_id != first.key_id
