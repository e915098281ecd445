"""The orchestrator's handlers on the in-memory unit of work: no database, same contract."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.kernel.clock import FixedClock
from services.kernel.errors import NotFound
from services.kernel.profile_changes import ProfileChange
from services.orchestrator import handlers
from services.orchestrator.store.memory import InMemoryOrchestratorUnitOfWork, in_memory

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def change(version: int, zone: str | None = None, email: bool | None = None) -> ProfileChange:
    traits = {} if zone is None else {"timezone": zone}
    consent = {} if email is None else {"email_marketing": email}
    return ProfileChange("acme", "p-1", version, traits=traits, consent=consent)


def test_changes_merge_by_version_whatever_the_delivery_order() -> None:
    db = in_memory(FixedClock(NOW))
    with InMemoryOrchestratorUnitOfWork(db) as uow:
        assert handlers.record_profile_change(uow, change(5, zone="America/Chicago"))
        assert handlers.record_profile_change(uow, change(2, zone="Europe/Paris", email=True))
        assert not handlers.record_profile_change(uow, change(5, zone="America/Chicago"))
        uow.commit()
    with InMemoryOrchestratorUnitOfWork(db) as uow:
        state = handlers.get_contact_state(uow, "acme", "p-1")
    assert (state.profile_version, state.time_zone) == (5, "America/Chicago")
    assert state.consent == {"email_marketing": True} and state.update_time == NOW


def test_a_change_is_kept_only_with_the_consumers_commit() -> None:
    db = in_memory(FixedClock(NOW))
    with InMemoryOrchestratorUnitOfWork(db) as uow:
        handlers.record_profile_change(uow, change(1, email=True))
    with InMemoryOrchestratorUnitOfWork(db) as uow, pytest.raises(NotFound):
        handlers.get_contact_state(uow, "acme", "p-1")


def test_the_names_of_the_traits_a_change_sets_join_the_tenants() -> None:
    db = in_memory(FixedClock(NOW))
    with InMemoryOrchestratorUnitOfWork(db) as uow:
        handlers.record_profile_change(uow, change(1, zone="Europe/Paris"))
        sealed = ProfileChange("acme", "p-2", 1, personal_traits=frozenset({"first_name"}))
        handlers.record_profile_change(uow, sealed)
        handlers.record_profile_change(uow, replace(sealed, tenant_id="other"))
        uow.commit()
    with InMemoryOrchestratorUnitOfWork(db) as uow:
        assert uow.trait_names.of_tenant("acme") == {
            "profile.traits.timezone",
            "profile.traits.first_name",
        }
        assert uow.trait_names.of_tenant("other") == {"profile.traits.first_name"}


def test_the_computed_traits_a_change_names_join_the_tenants() -> None:
    db = in_memory(FixedClock(NOW))
    with InMemoryOrchestratorUnitOfWork(db) as uow:
        computed = ProfileChange("acme", "p-1", 2, computed={"ltv": 12.5, "visits_7d": None})
        handlers.record_profile_change(uow, computed)
        uow.commit()
    with InMemoryOrchestratorUnitOfWork(db) as uow:
        assert uow.trait_names.of_tenant("acme") == {
            "profile.computed.ltv",
            "profile.computed.visits_7d",
        }


def test_a_change_without_a_profile_id_is_refused() -> None:
    uow = InMemoryOrchestratorUnitOfWork(in_memory(FixedClock(NOW)))
    with uow, pytest.raises(ValueError, match="profile_id"):
        handlers.record_profile_change(uow, ProfileChange("acme", "", 3))
