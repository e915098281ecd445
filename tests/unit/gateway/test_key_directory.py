"""The gateway's key cache: built from the store, dropped by a tenant's events, never stale."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from services.gateway import handlers
from services.gateway.api.auth import KeyDirectory
from services.gateway.domain.commands import (
    CreatePrincipal,
    CreateTenant,
    IssueApiKey,
    RevokeApiKey,
)
from services.kernel.messaging.envelope import Envelope
from services.kernel.principals import Actor
from tests.unit.gateway.fakes import CountingLayer

OPERATOR = Actor.system("test")


async def key_of(layer: CountingLayer, tenant: str, principal: str = "ci") -> str:
    """A new key of `principal` (created, with its tenant, when missing)."""
    if not await layer.read(lambda uow: uow.tenants.get(tenant).exists):
        await layer.run(handlers.create_tenant, CreateTenant(tenant), OPERATOR)
    if await layer.read(lambda uow: uow.principals.get(tenant, principal)) is None:
        created = CreatePrincipal(tenant, principal, "system", roles=("editor",))
        await layer.run(handlers.create_principal, created, OPERATOR)
    issued = await layer.run(handlers.issue_api_key, IssueApiKey(tenant, principal), OPERATOR)
    return issued.key_id


async def revoke(layer: CountingLayer, tenant: str, key_id: str) -> None:
    await layer.run(handlers.revoke_api_key, RevokeApiKey(tenant, key_id), OPERATOR)


def event(tenant: str) -> Envelope:
    return Envelope(
        event_id="e-1",
        type="layercake.events.v1.ApiKeyRevoked",
        source="gateway",
        tenant_id=tenant,
        time=datetime(2026, 3, 1, tzinfo=UTC),
        payload=b"",
        nats_subject=f"layercake.{tenant}.gateway.api_key_revoked",
    )


async def test_keys_loaded_at_start_are_answered_from_memory() -> None:
    layer = CountingLayer()
    k1, k2 = await key_of(layer, "acme"), await key_of(layer, "acme")
    await revoke(layer, "acme", k2)
    keys = KeyDirectory(layer)
    await keys.load()
    reads = layer.reads
    found = await keys.get(k1)
    assert found is not None and not found.revoked and found.tenant_id == "acme"
    assert layer.reads == reads  # from memory
    revoked = await keys.get(k2)  # not loaded (revoked): a miss reads the store
    assert revoked is not None and revoked.revoked
    assert layer.reads == reads + 1


async def test_an_event_drops_only_its_tenants_keys() -> None:
    layer = CountingLayer()
    k1, k2 = await key_of(layer, "acme"), await key_of(layer, "other")
    keys = KeyDirectory(layer)
    await keys.load()
    await revoke(layer, "acme", k1)
    await keys.on_gateway_event(event("acme"))
    assert (await keys.get(k1)).revoked  # type: ignore[union-attr]  # read again: revoked
    reads = layer.reads
    assert await keys.get(k2) is not None  # still cached
    assert layer.reads == reads


async def test_a_read_that_overlaps_an_event_is_not_cached() -> None:
    layer = CountingLayer()
    k1 = await key_of(layer, "acme")
    keys = KeyDirectory(layer)
    layer.gate = asyncio.Event()
    pending = asyncio.create_task(keys.get(k1))  # reads the key before it is revoked...
    await asyncio.sleep(0)
    await revoke(layer, "acme", k1)
    await keys.on_gateway_event(event("acme"))  # ...and the revocation arrives meanwhile
    layer.gate.set()
    assert not (await pending).revoked  # type: ignore[union-attr]  # that call raced it
    assert (await keys.get(k1)).revoked  # type: ignore[union-attr]  # no stale entry kept


async def test_this_replicas_change_drops_only_the_changed_principals_keys() -> None:
    layer = CountingLayer()
    k1, k2 = await key_of(layer, "acme"), await key_of(layer, "acme", principal="ann")
    keys = KeyDirectory(layer)
    await keys.load()
    assert keys.invalidate("acme", "ann") == 1
    assert keys.invalidate("other", "ci") == 0
    reads = layer.reads
    await keys.get(k1)
    assert layer.reads == reads  # ci's key stayed cached
    await keys.get(k2)
    assert layer.reads == reads + 1  # ann's is read afresh
