"""Audience membership from identity's AudienceEntered/Exited, on the in-memory unit of
work: newer versions win in any delivery order, merges give the survivor what it lacks,
forgetting deletes."""

from __future__ import annotations

from datetime import UTC, datetime

from services.kernel.clock import FixedClock
from services.kernel.profile_changes import ProfileChange, ProfileForget, ProfilesMerge
from services.orchestrator import handlers
from services.orchestrator.domain.audience_members import Membership
from services.orchestrator.store.memory import InMemoryOrchestratorUnitOfWork, in_memory

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def joined(profile: str, audience: str, version: int, member: bool = True) -> ProfileChange:
    return ProfileChange("acme", profile, version, audiences={audience: member})


def members(uow: InMemoryOrchestratorUnitOfWork, profile: str) -> dict[str, tuple[bool, int]]:
    held = uow.audience_members.of_profile("acme", profile)
    return {a: (m.member, m.version) for a, m in held.items()}


def test_the_newest_entry_or_exit_wins_whatever_the_delivery_order() -> None:
    db = in_memory(FixedClock(NOW))
    with InMemoryOrchestratorUnitOfWork(db) as uow:
        assert handlers.record_profile_change(uow, joined("p-1", "vip", 5, member=False))
        handlers.record_profile_change(uow, joined("p-1", "vip", 4))  # late: changes nothing
        assert handlers.record_profile_change(uow, joined("p-1", "churn", 2))
        uow.commit()
    with InMemoryOrchestratorUnitOfWork(db) as uow:
        assert members(uow, "p-1") == {"vip": (False, 5), "churn": (True, 2)}
        handlers.record_profile_change(uow, joined("p-1", "vip", 6))
        assert members(uow, "p-1")["vip"] == (True, 6)


def test_a_merge_gives_the_survivor_the_memberships_it_lacks_and_a_forget_deletes() -> None:
    db = in_memory(FixedClock(NOW))
    with InMemoryOrchestratorUnitOfWork(db) as uow:
        handlers.record_profile_change(uow, joined("p-old", "vip", 3))
        handlers.record_profile_change(uow, joined("p-old", "churn", 3))
        handlers.record_profile_change(uow, joined("p-new", "churn", 7, member=False))
        merge = ProfilesMerge("acme", "p-new", ("p-old",), 9)
        handlers.record_profiles_merge(uow, merge)
        handlers.record_profiles_merge(uow, merge)  # a redelivery takes nothing more
        assert members(uow, "p-old") == {}
        # the survivor's own exit stays; vip is taken below the merge's version
        assert members(uow, "p-new") == {"vip": (True, 8), "churn": (False, 7)}
        handlers.record_profile_change(uow, joined("p-new", "vip", 9, member=False))
        assert members(uow, "p-new")["vip"] == (False, 9)
        handlers.record_profile_forget(uow, ProfileForget("acme", "p-new", ("p-old",)))
        assert members(uow, "p-new") == {}
        assert uow.audience_members.of_profile("acme", "p-new") == {}
    assert all(isinstance(m, Membership) for m in db.state.audience_members.values())
