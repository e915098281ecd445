"""API key shape, secret hashing, metadata parsing and what scopes grant."""

from __future__ import annotations

import hashlib

import pytest

from services.gateway.domain import keys
from services.gateway.domain.keys import Caller, KeyRecord
from services.kernel.errors import InvalidArgument, PermissionDenied, Unauthenticated
from services.kernel.principals import Actor, Principal, PrincipalKind, Role, Scope

ANN = Actor("ann", PrincipalKind.PERSON)


def ann(*roles: Role) -> Principal:
    return Principal("acme", ANN, frozenset(roles))


def record_for(
    key: keys.NewKey, *scopes: Scope, roles: tuple[Role, ...] = (Role.ADMIN,), revoked: bool = False
) -> KeyRecord:
    return KeyRecord(key.key_id, key.secret_sha256, frozenset(scopes), ann(*roles), revoked)


def test_new_key_reads_lc_id_secret_and_parses_back() -> None:
    key = keys.new_key()
    assert key.text.startswith(f"lc_{key.key_id}_")
    assert keys.parse_key(key.text) == keys.PresentedKey(key.key_id, key.secret)
    assert keys.new_key().key_id != key.key_id


def test_only_the_sha256_of_the_secret_is_kept() -> None:
    key = keys.new_key()
    assert key.secret_sha256 == hashlib.sha256(key.secret.encode()).hexdigest()
    assert key.secret not in key.secret_sha256


def test_secret_may_contain_underscores() -> None:
    assert keys.parse_key("lc_abcdef0123456789_se_cr_et") == keys.PresentedKey(
        "abcdef0123456789", "se_cr_et"
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "lc_",
        "lc_abcdef0123456789",
        "lc_abcdef0123456789_",
        "lc_ABC_secret",
        "sk_abcdef0123456789_secret",
        "lc_short_secret",
        "lc_abcdef0123456789_" + "s" * 129,
    ],
)
def test_malformed_keys_do_not_parse(text: str) -> None:
    assert keys.parse_key(text) is None


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ([("authorization", "Bearer lc_k")], "lc_k"),
        ([("authorization", "bearer   lc_k ")], "lc_k"),
        ([("x-api-key", "lc_k")], "lc_k"),
        ([("authorization", "Basic xyz"), ("x-api-key", "lc_k")], "lc_k"),
        ([("Authorization", "Bearer lc_a"), ("x-api-key", "lc_b")], "lc_a"),
        ([("user-agent", "grpc")], ""),
    ],
)
def test_key_comes_from_bearer_or_x_api_key(metadata: list[tuple[str, str]], expected: str) -> None:
    assert keys.key_from_metadata(metadata) == expected


def test_authenticate_gives_the_keys_principal_and_tenant() -> None:
    key = keys.new_key()
    caller = keys.authenticate(key.text, record_for(key, Scope.INGEST))
    assert caller == Caller(key.key_id, frozenset({Scope.INGEST}), ann(Role.ADMIN))
    assert (caller.tenant_id, caller.actor) == ("acme", ANN)


def test_missing_unknown_wrong_secret_or_revoked_key_is_unauthenticated() -> None:
    key, other = keys.new_key(), keys.new_key()
    with pytest.raises(Unauthenticated):
        keys.authenticate("", None)
    with pytest.raises(Unauthenticated):
        keys.authenticate(key.text, None)
    with pytest.raises(Unauthenticated):
        keys.authenticate(f"lc_{key.key_id}_{other.secret}", record_for(key, Scope.ADMIN))
    with pytest.raises(Unauthenticated):
        keys.authenticate(key.text, record_for(key, Scope.ADMIN, revoked=True))
    with pytest.raises(Unauthenticated):
        keys.authenticate(other.text, record_for(key, Scope.ADMIN))


def test_a_key_may_use_its_scopes_that_its_principals_roles_grant_now() -> None:
    both = frozenset({Scope.ASSETS_WRITE, Scope.ASSETS_APPROVE})
    editor = Caller("k1", both, ann(Role.EDITOR))
    assert editor.scopes == {Scope.ASSETS_WRITE}
    assert Caller("k1", both, ann(Role.EDITOR, Role.APPROVER)).scopes == both
    assert Caller("k1", frozenset({Scope.ADMIN}), ann(Role.ADMIN)).scopes == {Scope.ADMIN}


def test_authorize_names_the_scope_and_who_lacks_it() -> None:
    viewer = Caller("k1", frozenset(Scope), ann(Role.VIEWER))
    keys.authorize(viewer, Scope.PROFILES_READ)
    with pytest.raises(PermissionDenied) as denied:
        keys.authorize(viewer, Scope.ASSETS_WRITE)
    assert "'assets:write'" in str(denied.value) and "person:ann (viewer)" in str(denied.value)
    narrow = Caller("k2", frozenset({Scope.INGEST}), ann(Role.ADMIN))
    with pytest.raises(PermissionDenied) as lacking:
        keys.authorize(narrow, Scope.PROFILES_READ)
    assert str(lacking.value) == "API key k2 lacks scope 'profiles:read'"
    assert lacking.value.reason == "SCOPE_MISSING"


def test_works_checks_secret_revocation_scopes_and_roles() -> None:
    key = keys.new_key()
    assert keys.works(key.text, record_for(key, Scope.INGEST), [Scope.INGEST])
    assert not keys.works(key.text, record_for(key, Scope.INGEST), [Scope.ADMIN])
    assert not keys.works(
        key.text, record_for(key, Scope.ADMIN, roles=(Role.VIEWER,)), [Scope.ADMIN]
    )
    assert not keys.works(key.text, record_for(key, Scope.ADMIN, revoked=True), [Scope.ADMIN])
    assert not keys.works("lc_nope", None, [Scope.INGEST])


def test_check_scopes_knows_the_kernel_scopes_only() -> None:
    assert keys.check_scopes(["ingest", "assets:approve", "ingest"]) == {
        Scope.INGEST,
        Scope.ASSETS_APPROVE,
    }
    assert keys.check_scopes([]) == frozenset()
    with pytest.raises(InvalidArgument) as unknown:
        keys.check_scopes(["ingest", "root"])
    assert unknown.value.violations[0].field == "scopes"
    assert "unknown scope 'root'" in str(unknown.value)
