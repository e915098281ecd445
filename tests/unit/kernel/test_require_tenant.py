"""Violations.require_tenant: a tenant id is required and must be a NATS subject token."""

from __future__ import annotations

import pytest

from services.kernel.errors import Violations


@pytest.mark.parametrize("tenant", ["acme", "t-1", "a0"])
def test_a_valid_tenant_id_passes(tenant: str) -> None:
    v = Violations()
    v.require_tenant(tenant)
    assert v.items == []


@pytest.mark.parametrize("tenant", ["Acme", "a", "1acme", "acme.corp", "acme*", "a" * 41, "ac me"])
def test_an_invalid_tenant_id_is_named(tenant: str) -> None:
    v = Violations()
    v.require_tenant(tenant, "request.tenant_id")
    assert [i.field for i in v.items] == ["request.tenant_id"]
    assert "lower-case" in v.items[0].description


def test_a_missing_tenant_id_is_required() -> None:
    v = Violations()
    v.require_tenant("")
    assert [(i.field, i.description) for i in v.items] == [("tenant_id", "is required")]
