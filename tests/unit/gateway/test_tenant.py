"""The Tenant aggregate's rules, without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.gateway.domain.errors import (
    ApiKeyAlreadyIssued,
    ApiKeyAlreadyRevoked,
    ApiKeyNotFound,
    TenantAlreadyExists,
    TenantNotFound,
)
from services.gateway.domain.events import ApiKeyIssued, ApiKeyRevoked, TenantCreated
from services.gateway.domain.tenant import Tenant
from services.kernel.errors import InvalidArgument

AT = datetime(2026, 3, 1, tzinfo=UTC)


def created(tenant_id: str = "acme") -> Tenant:
    tenant = Tenant(tenant_id=tenant_id)
    tenant.create(tenant_id, "", AT)
    return tenant


def test_create_records_tenant_created_with_a_default_name() -> None:
    tenant = created()
    assert tenant.exists and tenant.stream_id == "tenant-acme"
    assert tenant.pending == [TenantCreated("acme", "acme", AT)]


def test_no_duplicate_tenant() -> None:
    tenant = Tenant.replay(created().pending, version=1)
    with pytest.raises(TenantAlreadyExists):
        tenant.create("acme", "Acme", AT)


@pytest.mark.parametrize("bad", ["", "A", "acme.corp", "9lives", "a" * 41])
def test_tenant_id_must_be_a_subject_token(bad: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        Tenant().create(bad, "", AT)
    assert error.value.violations[0].field == "tenant_id"


def test_issue_and_revoke_a_key() -> None:
    tenant = created()
    key = tenant.issue_key("k1", "ab" * 32, ["ingest", "ingest"], "ci", AT)
    assert key.scopes == ("ingest",)
    tenant.revoke_key("k1", "leaked", AT + timedelta(hours=1))
    assert tenant.keys["k1"].revoked
    assert tenant.pending[1:] == [
        ApiKeyIssued("k1", "ab" * 32, ("ingest",), "ci", AT),
        ApiKeyRevoked("k1", "leaked", AT + timedelta(hours=1)),
    ]
    record = tenant.key_record("k1")
    assert record is not None and record.revoked and record.tenant_id == "acme"
    assert tenant.key_record("nope") is None


def test_revoke_twice_is_refused() -> None:
    tenant = created()
    tenant.issue_key("k1", "ab" * 32, ["admin"], "", AT)
    tenant.revoke_key("k1", "", AT)
    with pytest.raises(ApiKeyAlreadyRevoked):
        tenant.revoke_key("k1", "", AT)


def test_unknown_key_cannot_be_revoked() -> None:
    with pytest.raises(ApiKeyNotFound):
        created().revoke_key("k9", "", AT)


def test_key_ids_are_never_reused() -> None:
    tenant = created()
    tenant.issue_key("k1", "ab" * 32, ["admin"], "", AT)
    with pytest.raises(ApiKeyAlreadyIssued):
        tenant.issue_key("k1", "cd" * 32, ["admin"], "", AT)


def test_keys_need_a_tenant_and_known_scopes() -> None:
    with pytest.raises(TenantNotFound):
        Tenant(tenant_id="ghost").issue_key("k1", "ab" * 32, ["admin"], "", AT)
    with pytest.raises(InvalidArgument):
        created().issue_key("k1", "ab" * 32, ["root"], "", AT)


def test_replay_rebuilds_the_same_state() -> None:
    tenant = created()
    tenant.issue_key("k1", "ab" * 32, ["admin"], "", AT)
    tenant.revoke_key("k1", "", AT)
    again = Tenant.replay(tenant.pending, version=3)
    assert again.keys == tenant.keys and again.version == 3 and not again.pending
