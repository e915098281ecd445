"""Roles grant scopes through one table; actors are typed, never free strings."""

from __future__ import annotations

import pytest

from services.kernel.principals import ROLE_SCOPES, Actor, Principal, PrincipalKind, Role, Scope


def test_every_role_has_a_row_and_admin_holds_every_scope() -> None:
    assert set(ROLE_SCOPES) == set(Role)
    assert ROLE_SCOPES[Role.ADMIN] == frozenset(Scope)


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        (Role.VIEWER, Scope.PROFILES_READ, Scope.ASSETS_WRITE),
        (Role.EDITOR, Scope.ASSETS_WRITE, Scope.ASSETS_APPROVE),
        (Role.APPROVER, Scope.ASSETS_APPROVE, Scope.ASSETS_WRITE),
        (Role.OPERATOR, Scope.ASSETS_OPERATE, Scope.ASSETS_APPROVE),
    ],
)
def test_a_role_grants_its_scopes_and_no_others(role: Role, allowed: Scope, refused: Scope) -> None:
    principal = Principal("acme", Actor("ann", PrincipalKind.PERSON), frozenset({role}))
    assert principal.may(allowed)
    assert not principal.may(refused)


def test_roles_combine() -> None:
    both = Principal("acme", Actor.system("ci"), frozenset({Role.EDITOR, Role.APPROVER}))
    assert both.may(Scope.ASSETS_WRITE) and both.may(Scope.ASSETS_APPROVE)
    assert both.has_role(Role.APPROVER) and not both.has_role(Role.OPERATOR)


def test_admin_holds_every_role() -> None:
    admin = Principal("acme", Actor("root", PrincipalKind.PERSON), frozenset({Role.ADMIN}))
    assert all(admin.has_role(r) for r in Role)


def test_actor_round_trips_through_text() -> None:
    actor = Actor("ann@example.com", PrincipalKind.PERSON)
    assert Actor.parse(str(actor)) == actor


@pytest.mark.parametrize("text", ["ann", "robot:ann", "person:", ":ann"])
def test_a_malformed_actor_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="actor"):
        Actor.parse(text)
