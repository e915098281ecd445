"""The gateway's key cache: built from the store, dropped by a tenant's events, never stale."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from services.gateway.api.auth import KeyDirectory
from services.gateway.domain.keys import KeyRecord
from services.kernel.messaging.envelope import Envelope
from services.kernel.principals import Actor, Principal, Role, Scope
from services.kernel.store.database import Database


def record(key_id: str, tenant: str, revoked: bool = False, principal: str = "ci") -> KeyRecord:
    owner = Principal(tenant, Actor.system(principal), frozenset({Role.EDITOR}))
    return KeyRecord(key_id, "0" * 64, frozenset({Scope.INGEST}), owner, revoked)


def find_keys(store: FakeStore, key_ids: list[str]) -> dict[str, KeyRecord]:
    return {k: store.keys[k] for k in key_ids if k in store.keys}


class FakeStore:
    """Answers the directory's reads from a dict; `gate` holds a read until it is set."""

    def __init__(self, *records: KeyRecord) -> None:
        self.keys = {r.key_id: r for r in records}
        self.reads = 0
        self.gate: asyncio.Event | None = None

    async def read(self, fn: Callable[[Any], Any]) -> Any:
        self.reads += 1
        answer = fn(self)
        if self.gate is not None:
            await self.gate.wait()
        return answer


def directory(store: FakeStore) -> KeyDirectory:
    return KeyDirectory(cast(Database, store))


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


async def test_keys_loaded_at_start_are_answered_from_memory(monkeypatch: Any) -> None:
    store = FakeStore(record("k1", "acme"), record("k2", "acme", revoked=True))
    monkeypatch.setattr(
        "services.gateway.handlers.active_api_keys",
        lambda s: [r for r in s.keys.values() if not r.revoked],
    )
    monkeypatch.setattr("services.gateway.handlers.find_api_keys", find_keys)
    keys = directory(store)
    await keys.load()
    assert await keys.get("k1") == record("k1", "acme")
    assert store.reads == 1  # the load only
    assert await keys.get("k2") == record("k2", "acme", revoked=True)  # a miss reads the store
    assert store.reads == 2


async def test_an_event_drops_only_its_tenants_keys(monkeypatch: Any) -> None:
    store = FakeStore(record("k1", "acme"), record("k2", "other"))
    monkeypatch.setattr(
        "services.gateway.handlers.active_api_keys", lambda s: list(s.keys.values())
    )
    monkeypatch.setattr("services.gateway.handlers.find_api_keys", find_keys)
    keys = directory(store)
    await keys.load()
    store.keys["k1"] = record("k1", "acme", revoked=True)
    await keys.on_gateway_event(event("acme"))
    assert (await keys.get("k1") or record("x", "x")).revoked  # read again: revoked
    reads = store.reads
    assert await keys.get("k2") == record("k2", "other")  # still cached
    assert store.reads == reads


async def test_a_read_that_overlaps_an_event_is_not_cached(monkeypatch: Any) -> None:
    store = FakeStore(record("k1", "acme"))
    monkeypatch.setattr("services.gateway.handlers.find_api_keys", find_keys)
    keys = directory(store)
    store.gate = asyncio.Event()
    pending = asyncio.create_task(keys.get("k1"))  # reads the key before it is revoked...
    await asyncio.sleep(0)
    store.keys["k1"] = record("k1", "acme", revoked=True)
    await keys.on_gateway_event(event("acme"))  # ...and the revocation arrives meanwhile
    store.gate.set()
    assert await pending == record("k1", "acme")  # that one call raced the revocation
    assert await keys.get("k1") == record("k1", "acme", revoked=True)  # no stale entry kept


async def test_this_replicas_change_drops_only_the_changed_principals_keys(
    monkeypatch: Any,
) -> None:
    store = FakeStore(record("k1", "acme"), record("k2", "acme", principal="ann"))
    monkeypatch.setattr(
        "services.gateway.handlers.active_api_keys", lambda s: list(s.keys.values())
    )
    monkeypatch.setattr("services.gateway.handlers.find_api_keys", find_keys)
    keys = directory(store)
    await keys.load()
    assert keys.invalidate("acme", "ann") == 1
    assert keys.invalidate("other", "ci") == 0
    reads = store.reads
    await keys.get("k1")
    assert store.reads == reads  # ci's key stayed cached
    await keys.get("k2")
    assert store.reads == reads + 1  # ann's is read afresh
