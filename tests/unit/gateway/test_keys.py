"""API key shape, secret hashing, metadata parsing and what scopes grant."""

from __future__ import annotations

import hashlib

import pytest

from services.gateway.domain import keys
from services.gateway.domain.keys import KeyRecord, Principal
from services.kernel.errors import InvalidArgument, PermissionDenied, Unauthenticated
from services.kernel.principals import Actor


def record_for(key: keys.NewKey, *scopes: str, revoked: bool = False) -> KeyRecord:
    return KeyRecord(key.key_id, "acme", key.secret_sha256, frozenset(scopes), revoked)


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


def test_authenticate_gives_the_keys_tenant() -> None:
    key = keys.new_key()
    principal = keys.authenticate(key.text, record_for(key, "ingest"))
    assert principal == Principal("acme", key.key_id, frozenset({"ingest"}))
    assert principal.actor == Actor.system(f"api_key:{key.key_id}")


def test_missing_unknown_wrong_secret_or_revoked_key_is_unauthenticated() -> None:
    key, other = keys.new_key(), keys.new_key()
    with pytest.raises(Unauthenticated):
        keys.authenticate("", None)
    with pytest.raises(Unauthenticated):
        keys.authenticate(key.text, None)
    with pytest.raises(Unauthenticated):
        keys.authenticate(f"lc_{key.key_id}_{other.secret}", record_for(key, "admin"))
    with pytest.raises(Unauthenticated):
        keys.authenticate(key.text, record_for(key, "admin", revoked=True))
    with pytest.raises(Unauthenticated):
        keys.authenticate(other.text, record_for(key, "admin"))


def test_admin_implies_every_scope() -> None:
    assert keys.grants({"admin"}, keys.INGEST)
    assert keys.grants({"admin"}, keys.PROFILES_READ)
    assert keys.grants({"ingest"}, keys.INGEST)
    assert not keys.grants({"ingest"}, keys.PROFILES_READ)
    assert not keys.grants(set(), keys.INGEST)


def test_authorize_refuses_a_missing_scope() -> None:
    principal = Principal("acme", "k1", frozenset({"ingest"}))
    keys.authorize(principal, keys.INGEST)
    with pytest.raises(PermissionDenied, match="profiles:read"):
        keys.authorize(principal, keys.PROFILES_READ)


def test_works_checks_secret_revocation_and_scopes() -> None:
    key = keys.new_key()
    assert keys.works(key.text, record_for(key, "ingest"), ["ingest"])
    assert not keys.works(key.text, record_for(key, "ingest"), ["admin"])
    assert not keys.works(key.text, record_for(key, "admin", revoked=True), ["ingest"])
    assert not keys.works("lc_nope", None, ["ingest"])


def test_check_scopes_sorts_dedupes_and_refuses_unknown() -> None:
    assert keys.check_scopes(["ingest", "admin", "ingest"]) == ("admin", "ingest")
    with pytest.raises(InvalidArgument) as unknown:
        keys.check_scopes(["ingest", "root"])
    assert unknown.value.violations[0].field == "scopes"
    with pytest.raises(InvalidArgument):
        keys.check_scopes([])
