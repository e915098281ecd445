"""The Account aggregate (a principal, its roles and keys): its rules, without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.gateway.domain.accounts import Account
from services.gateway.domain.errors import (
    ApiKeyAlreadyIssued,
    ApiKeyAlreadyRevoked,
    ApiKeyNotFound,
    PrincipalAlreadyExists,
    PrincipalHasNoRole,
    PrincipalNotFound,
    RoleAlreadyGranted,
    RoleNotGranted,
)
from services.gateway.domain.events import (
    ApiKeyIssued,
    ApiKeyRevoked,
    PrincipalCreated,
    RoleGranted,
    RoleRevoked,
)
from services.kernel.errors import InvalidArgument
from services.kernel.principals import ROLE_SCOPES, Actor, PrincipalKind, Role, Scope

AT = datetime(2026, 3, 1, tzinfo=UTC)
LATER = AT + timedelta(hours=1)


def account(*roles: str, kind: str = "person") -> Account:
    ann = Account(tenant_id="acme", principal_id="ann")
    ann.create(kind, "", list(roles), AT)
    return ann


def test_create_records_the_principal_then_a_grant_per_role() -> None:
    ann = account("editor", "viewer", "editor")
    assert ann.stream_id == "principal-acme/ann"
    assert ann.pending == [
        PrincipalCreated("ann", PrincipalKind.PERSON, "ann", AT),
        RoleGranted("ann", Role.EDITOR, AT),
        RoleGranted("ann", Role.VIEWER, AT),
    ]
    assert ann.principal.actor == Actor("ann", PrincipalKind.PERSON)
    assert ann.principal.roles == {Role.EDITOR, Role.VIEWER}


def test_create_names_every_bad_field_and_ids_are_never_reused() -> None:
    bad = Account(tenant_id="acme", principal_id="Ann Smith")
    with pytest.raises(InvalidArgument) as refused:
        bad.create("robot", "x" * 201, ["editor", "root"], AT)
    assert [v.field for v in refused.value.violations] == [
        "principal_id",
        "kind",
        "display_name",
        "roles",
    ]
    assert "root" in str(refused.value)
    with pytest.raises(PrincipalAlreadyExists):
        Account.replay(account().pending, 1).create("person", "", [], AT)


def test_grant_and_revoke_roles_are_events() -> None:
    ann = account("viewer")
    ann.grant_role("approver", LATER)
    ann.revoke_role("viewer", LATER)
    assert ann.pending[-2:] == [
        RoleGranted("ann", Role.APPROVER, LATER),
        RoleRevoked("ann", Role.VIEWER, LATER),
    ]
    assert ann.roles == {Role.APPROVER}
    with pytest.raises(RoleAlreadyGranted):
        ann.grant_role("approver", LATER)
    with pytest.raises(RoleNotGranted):
        ann.revoke_role("viewer", LATER)
    with pytest.raises(InvalidArgument) as unknown:
        ann.grant_role("owner", LATER)
    assert unknown.value.violations[0].field == "role"


def test_a_missing_principal_is_not_found() -> None:
    ghost = Account(tenant_id="acme", principal_id="ghost")
    with pytest.raises(PrincipalNotFound):
        ghost.grant_role("viewer", AT)
    with pytest.raises(PrincipalNotFound):
        ghost.issue_key("k1", "ab" * 32, [], "", AT)


def test_a_key_without_scopes_gets_all_its_roles_grant_now() -> None:
    ann = account("editor")
    key = ann.issue_key("k1", "ab" * 32, [], "ci", AT)
    assert key.scopes == ROLE_SCOPES[Role.EDITOR]
    assert ann.pending[-1] == ApiKeyIssued("ann", "k1", "ab" * 32, key.scopes, "ci", AT)


def test_a_key_cannot_be_issued_with_scopes_beyond_the_principals_roles() -> None:
    ann = account("editor")
    with pytest.raises(InvalidArgument) as beyond:
        ann.issue_key("k1", "ab" * 32, ["ingest", "assets:approve"], "", AT)
    [violation] = beyond.value.violations
    assert violation.field == "scopes"
    assert "'assets:approve'" in violation.description and "editor" in violation.description
    with pytest.raises(InvalidArgument, match="unknown scope 'root'"):
        ann.issue_key("k1", "ab" * 32, ["root"], "", AT)
    with pytest.raises(PrincipalHasNoRole):
        account().issue_key("k1", "ab" * 32, [], "", AT)
    assert ann.keys == {}


def test_revoking_a_role_narrows_what_a_key_may_do_but_not_what_it_holds() -> None:
    ann = account("editor", "approver")
    ann.issue_key("k1", "ab" * 32, ["assets:write", "assets:approve"], "", AT)
    ann.revoke_role("approver", LATER)
    record = ann.key_record("k1")
    assert record is not None
    assert record.scopes == {Scope.ASSETS_WRITE, Scope.ASSETS_APPROVE}
    assert record.principal.scopes & record.scopes == {Scope.ASSETS_WRITE}


def test_revoke_a_key_once() -> None:
    ann = account("viewer")
    ann.issue_key("k1", "ab" * 32, [], "", AT)
    with pytest.raises(ApiKeyAlreadyIssued):
        ann.issue_key("k1", "cd" * 32, [], "", AT)
    ann.revoke_key("k1", "leaked", LATER)
    assert ann.pending[-1] == ApiKeyRevoked("ann", "k1", "leaked", LATER)
    record = ann.key_record("k1")
    assert record is not None and record.revoked and record.tenant_id == "acme"
    with pytest.raises(ApiKeyAlreadyRevoked):
        ann.revoke_key("k1", "", LATER)
    with pytest.raises(ApiKeyNotFound):
        ann.revoke_key("k9", "", LATER)
    assert ann.key_record("k9") is None


def test_replay_rebuilds_the_same_state() -> None:
    ann = account("editor", kind="system")
    ann.issue_key("k1", "ab" * 32, ["ingest"], "", AT)
    ann.revoke_role("editor", LATER)
    again = Account.replay(ann.pending, version=len(ann.pending))
    again.tenant_id = "acme"
    assert again.principal == ann.principal
    assert again.keys == ann.keys and not again.pending
