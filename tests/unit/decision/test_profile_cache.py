"""The replica's cache of profiles' features: read once, then kept by identity's events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from services.decision import handlers
from services.decision.profiles import ProfileFeatureCache
from services.decision.store.memory import InMemoryDecisionUnitOfWork, in_memory
from services.kernel.clock import FixedClock
from services.kernel.messaging.envelope import Envelope
from services.kernel.profile_changes import ProfileChange
from tests.profile_events import (
    AT,
    as_envelope,
    profile_forgotten,
    profile_updated,
    profiles_merged,
)
from tests.unit.decision.memory_layer import MemoryLayer

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def setup() -> tuple[MemoryLayer, ProfileFeatureCache]:
    layer = MemoryLayer(in_memory(FixedClock(NOW)))
    return layer, ProfileFeatureCache(cast(Any, layer), FixedClock(NOW))


def store(layer: MemoryLayer, profile: str, version: int, traits: dict[str, object]) -> None:
    with InMemoryDecisionUnitOfWork(layer.db) as uow:
        handlers.record_profile_change(uow, ProfileChange("acme", profile, version, traits))
        uow.commit()


def updated(profile: str, version: int, traits: dict[str, object]) -> Envelope:
    return as_envelope(profile_updated("acme", profile, version, traits=traits))


def merged(survivor: str, gone: str, version: int) -> Envelope:
    m = profiles_merged("acme", survivor, [gone], version)
    return Envelope(m.event_id, m.type, "identity", "acme", AT, m.payload, m.subject)


def forgotten(profile: str) -> Envelope:
    m = profile_forgotten("acme", profile)
    return Envelope(m.event_id, m.type, "identity", "acme", AT, m.payload, m.subject)


async def test_a_profile_is_read_once_then_kept_by_identitys_events() -> None:
    layer, cache = setup()
    store(layer, "p-1", 1, {"age": 30})
    assert (await cache.get("acme", "p-1")).values["trait_age"] == 30.0  # type: ignore[union-attr]
    await cache.on_identity(updated("p-1", 2, {"age": 31}))
    await cache.on_identity(updated("p-1", 1, {"age": 99}))  # late: older than held
    found = await cache.get("acme", "p-1")
    assert found is not None and found.values["trait_age"] == 31.0 and found.profile_version == 2
    assert await cache.get("acme", "p-new") is None
    await cache.on_identity(updated("p-new", 1, {"age": 5}))
    assert (await cache.get("acme", "p-new")).values["trait_age"] == 5.0  # type: ignore[union-attr]
    assert layer.reads == 2


async def test_a_change_the_projection_has_not_written_yet_is_applied_to_a_miss() -> None:
    layer, cache = setup()
    store(layer, "p-1", 1, {"age": 30, "sodas": 2})
    await cache.on_identity(updated("p-1", 2, {"age": 31}))  # heard before the store has it
    found = await cache.get("acme", "p-1")
    assert found is not None
    assert (found.values["trait_age"], found.values["trait_sodas"]) == (31.0, 2.0)


async def test_merged_profiles_are_read_from_the_store_not_held() -> None:
    layer, cache = setup()
    store(layer, "p-1", 1, {"age": 30})
    await cache.get("acme", "p-1")
    await cache.on_identity(merged("p-1", "p-2", 3))
    await cache.get("acme", "p-1")
    await cache.get("acme", "p-1")
    assert layer.reads == 3
    await cache.clear()  # a broadcast gap forgets everything
    await cache.get("acme", "p-9")
    await cache.get("acme", "p-9")
    assert layer.reads == 4


async def test_a_forgotten_persons_features_leave_the_cache_at_once() -> None:
    layer, cache = setup()
    store(layer, "p-1", 1, {"age": 30})
    await cache.get("acme", "p-1")
    await cache.on_identity(updated("p-2", 4, {"age": 50}))  # a change of one not held
    await cache.on_identity(forgotten("p-1"))
    await cache.on_identity(forgotten("p-2"))
    with InMemoryDecisionUnitOfWork(layer.db) as uow:  # the projection's consumer deletes
        uow.features.pop("acme", "p-1")
        uow.commit()
    assert await cache.get("acme", "p-1") is None
    assert await cache.get("acme", "p-2") is None  # its recent change is gone too


async def test_text_traits_are_held_and_kept_current_like_numbers() -> None:
    layer, cache = setup()
    store(layer, "p-1", 1, {"plan": "free", "vip": False})
    held = await cache.get("acme", "p-1")
    assert held is not None and held.values["trait_plan"] == "free"
    await cache.on_identity(updated("p-1", 2, {"plan": "gold", "vip": True}))
    held = await cache.get("acme", "p-1")
    assert held is not None and (held.values["trait_plan"], held.values["trait_vip"]) == (
        "gold",
        True,
    )
    await cache.on_identity(updated("p-1", 3, {"plan": None}))  # cleared: no feature
    held = await cache.get("acme", "p-1")
    assert held is not None and "trait_plan" not in held.values and layer.reads == 1
