"""The Tenant aggregate's rules, without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.gateway.domain.errors import TenantAlreadyExists, TenantNotFound
from services.gateway.domain.events import ApiKeyIssued, TenantCreated
from services.gateway.domain.tenant import Tenant
from services.kernel.errors import InvalidArgument
from services.kernel.principals import Scope

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


def test_replay_rebuilds_the_same_state_and_skips_keys_without_a_principal() -> None:
    tenant = created()
    legacy = ApiKeyIssued("", "k1", "ab" * 32, frozenset({Scope.ADMIN}), "", AT)
    again = Tenant.replay([*tenant.pending, legacy], version=2)
    assert again == Tenant(tenant_id="acme", display_name="acme", create_time=AT, version=2)
    again.require_exists()
    with pytest.raises(TenantNotFound):
        Tenant(tenant_id="ghost").require_exists()
