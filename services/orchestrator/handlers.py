"""The orchestrator's service layer: one function per event or query, on its unit of work.

These run in the database thread pool, called by the consumers and the servicer.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.kernel.errors import NotFound, Violations
from services.kernel.profile_changes import ProfileChange, ProfileForget, ProfilesMerge
from services.kernel.profile_copies import drop_forgotten, fold_merged
from services.orchestrator.domain.audience_members import memberships_after, memberships_taken
from services.orchestrator.domain.contact_state import (
    ContactState,
    contact_state_after,
    contact_state_folded,
)
from services.orchestrator.domain.templates import supplied_traits
from services.orchestrator.ports import OrchestratorUnitOfWork
from services.orchestrator.repositories import StepCount


def record_profile_change(uow: OrchestratorUnitOfWork, change: ProfileChange) -> bool:
    """Applies identity's change of a profile; parts older than those held are ignored, since
    deliveries can arrive out of order; audience entries and exits also keep the
    membership, and the traits it set or computed join the tenant's. Runs in the
    consumer's transaction (no commit)."""
    now = uow.now()
    changed = uow.contact_states.merge(
        change.tenant_id,
        change.profile_id,
        lambda held: contact_state_after(held, change, now),
    )
    learn_supplied_traits(uow, [change])  # what templates may read (see template_checks)
    if change.audiences:
        held = uow.audience_members.of_profile(change.tenant_id, change.profile_id)
        for membership in memberships_after(held, change):
            uow.audience_members.put(membership)
            changed = True
    return changed


def learn_supplied_traits(uow: OrchestratorUnitOfWork, changes: Sequence[ProfileChange]) -> int:
    """The traits and computed traits the changes show their tenants' profiles supply join
    the tenants' (as identity's changes arrive, and replayed: `trait_replay`); returns how
    many changes named any. No commit."""
    by_tenant: dict[str, set[str]] = {}
    named = 0
    for change in changes:
        if supplied := supplied_traits(change):
            by_tenant.setdefault(change.tenant_id, set()).update(supplied)
            named += 1
    for tenant_id, names in by_tenant.items():
        uow.trait_names.learn(tenant_id, names)
    return named


def record_profiles_merge(uow: OrchestratorUnitOfWork, merge: ProfilesMerge) -> bool:
    """Moves the merged-away profiles' contact states into the survivor's (parts it lacks),
    then drops them, their sends to the survivor's ledger (one person, one set of caps)
    and their audience memberships the survivor lacks. Runs in the consumer's transaction
    (no commit)."""
    now = uow.now()
    tenant, survivor = merge.tenant_id, merge.survivor_profile_id
    for merged_id in merge.merged_profile_ids:
        if merged_id != survivor:
            uow.send_ledger.move_profile(tenant, merged_id, survivor)
            _fold_memberships(uow, merge, merged_id)
    return fold_merged(
        uow.contact_states,
        merge,
        lambda held, merged: contact_state_folded(held, merged, merge, now),
    )


def _fold_memberships(uow: OrchestratorUnitOfWork, merge: ProfilesMerge, merged_id: str) -> None:
    merged = uow.audience_members.of_profile(merge.tenant_id, merged_id)
    if not merged:
        return
    held = uow.audience_members.of_profile(merge.tenant_id, merge.survivor_profile_id)
    for membership in memberships_taken(held, merged.values(), merge):
        uow.audience_members.put(membership)
    uow.audience_members.forget(merge.tenant_id, merged_id)


def record_profile_forget(uow: OrchestratorUnitOfWork, forget: ProfileForget) -> bool:
    """Deletes the forgotten person's contact states, sends, stock waits and audience
    memberships (GDPR erasure).
    Runs in the consumer's transaction (no commit)."""
    erased = 0
    for profile_id in forget.profile_ids:
        erased += uow.send_ledger.forget(forget.tenant_id, profile_id)
        erased += uow.facts.forget_waiter(forget.tenant_id, profile_id)
        erased += uow.audience_members.forget(forget.tenant_id, profile_id)
    return drop_forgotten(uow.contact_states, forget) or erased > 0


def get_contact_state(uow: OrchestratorUnitOfWork, tenant_id: str, profile_id: str) -> ContactState:
    """The contact state of one of the tenant's profiles; NotFound until identity reported it."""
    bad = Violations()
    bad.require_tenant(tenant_id, "tenant_id")
    bad.require(profile_id, "profile_id")
    bad.raise_if_any()
    state = uow.contact_states.get(tenant_id, profile_id)
    if state is None:
        raise NotFound(f"no contact state for profile {profile_id!r}")
    return state


def get_journey_stats(
    uow: OrchestratorUnitOfWork, tenant_id: str, journey_id: str
) -> list[StepCount]:
    """The journey's counts per version and step, with the runs waiting at each step now."""
    bad = Violations()
    bad.require_tenant(tenant_id, "tenant_id")
    bad.require(journey_id, "journey_id")
    bad.raise_if_any()
    counts = uow.instance_records.counts(tenant_id, journey_id)
    waiting = uow.instance_records.waiting(tenant_id, journey_id)
    return sorted(counts + waiting, key=lambda c: (c.journey_version, c.step_id, c.metric))
