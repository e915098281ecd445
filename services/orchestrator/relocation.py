"""Runs that move as a whole: to the survivor of a merge, out for a forgotten person, to a
newer journey version by a migration map. Each in the caller's unit of work."""

from __future__ import annotations

from collections.abc import Mapping

from services.kernel.errors import FailedPrecondition, InvalidArgument, NotFound
from services.kernel.profile_changes import ProfilesMerge
from services.orchestrator.domain.instances.migration import (
    Move,
    check_step_map,
    moves_of,
    wait_carries_over,
)
from services.orchestrator.domain.instances.steps import run_timer_id
from services.orchestrator.engine import JourneyEngine
from services.orchestrator.instances import load_instance, save_instance
from services.orchestrator.ports import OrchestratorUnitOfWork


def merge_runs(engine: JourneyEngine, uow: OrchestratorUnitOfWork, merge: ProfilesMerge) -> None:
    """The merged-away profiles' runs continue as the survivor's; where the survivor is
    inside the same journey already, its run goes on and counts the other's sends; where
    its re-entry policy would keep it out, its last run's sends count as made."""
    tenant, survivor = merge.tenant_id, merge.survivor_profile_id
    for merged_id in merge.merged_profile_ids:
        for record in uow.instance_records.of_profile(tenant, merged_id):
            if record.active:
                move_run(engine, uow, tenant, record.journey_id, (merged_id, survivor), "merge")


def split_runs(
    engine: JourneyEngine,
    uow: OrchestratorUnitOfWork,
    tenant_id: str,
    profile_id: str,
    moves: Mapping[str, tuple[str, str]],
) -> None:
    """After an unmerge of `profile_id`: each run in `moves` (journey -> (its entry message,
    the new profile that event belongs to)) continues as the new profile's, its sends
    counted as made; one that changed meanwhile (ended, re-entered) stays."""
    for journey_id, (message_id, to_profile) in sorted(moves.items()):
        held = load_instance(uow, tenant_id, journey_id, profile_id)
        if held.active and held.entry_message_id == message_id:
            move_run(engine, uow, tenant_id, journey_id, (profile_id, to_profile), "unmerge")


def move_run(
    engine: JourneyEngine,
    uow: OrchestratorUnitOfWork,
    tenant_id: str,
    journey_id: str,
    profiles: tuple[str, str],
    entry: str,
) -> None:
    """Moves `profiles[0]`'s active run of the journey to `profiles[1]`, with its wait,
    context and sends: where the other is inside already, its run absorbs this one's
    sends; where its re-entry policy would keep it out, its last run's sends count too."""
    from_id, to_id = profiles
    now = uow.now()
    old = load_instance(uow, tenant_id, journey_id, from_id)
    into = load_instance(uow, tenant_id, journey_id, to_id)
    wait = old.wait
    uow.timers.cancel(tenant_id, run_timer_id(journey_id, from_id))
    old.exit("merged" if entry == "merge" else "unmerged", now, survivor_profile_id=to_id)
    journey = uow.journeys.runnable(tenant_id, journey_id, old.journey_version)
    if into.active:
        into.absorb(from_id, old.sent_steps, now)
    else:
        sent = set(old.sent_steps)
        if into.refusal(journey.definition, now):  # not yet allowed back in
            sent |= into.sent_steps  # so their last run's messages are not repeated
        into.enter(
            old.journey_version,
            old.step_id,
            entry,
            from_id,
            now,
            tuple(sent),
            context=old.context,
            entry_message_id=old.entry_message_id,
        )
        if wait is not None:
            into.wait_at(wait.due_time, wait.reason, wait.event)
            engine.schedule(uow, into, journey, wait.due_time)
    save_instance(uow, old)
    save_instance(uow, into)


def runs_to_split(
    candidates: Mapping[str, str], belongs: Mapping[str, frozenset[str]], kept: frozenset[str]
) -> dict[str, tuple[str, str]]:
    """Which runs of a split profile move: journey -> (entry message, new profile), for each
    run (`candidates`: journey -> its entry message) whose entry event belongs to a new
    profile (`belongs`: new profile -> its events) and not to the profile split (`kept`:
    its events). A run whose event belongs to both, or whose entry was no event, stays."""
    moves = {}
    for journey_id, message_id in candidates.items():
        if message_id in kept:
            continue
        owners = sorted(p for p, events in belongs.items() if message_id in events)
        if len(owners) == 1:
            moves[journey_id] = (message_id, owners[0])
    return moves


def split_candidates(
    uow: OrchestratorUnitOfWork, tenant_id: str, profile_id: str
) -> dict[str, str]:
    """The profile's active runs entered by an ingested event: journey -> its message id."""
    found = {}
    for record in uow.instance_records.of_profile(tenant_id, profile_id):
        if record.active:
            held = load_instance(uow, tenant_id, record.journey_id, profile_id)
            if held.entry_message_id:
                found[record.journey_id] = held.entry_message_id
    return found


def forget_runs(uow: OrchestratorUnitOfWork, tenant_id: str, profile_id: str) -> None:
    """A forgotten person leaves every journey at once; nothing more is sent to them."""
    now = uow.now()
    for record in uow.instance_records.of_profile(tenant_id, profile_id):
        if record.active:
            instance = load_instance(uow, tenant_id, record.journey_id, profile_id)
            uow.timers.cancel(tenant_id, run_timer_id(record.journey_id, profile_id))
            instance.exit("forgotten", now)
            save_instance(uow, instance)


def migrate_runs(
    engine: JourneyEngine,
    uow: OrchestratorUnitOfWork,
    tenant_id: str,
    journey_id: str,
    versions: tuple[int, int],
    step_map: Mapping[str, str],
    *,
    dry_run: bool,
) -> list[Move]:
    """Moves the active runs of version `versions[0]` at mapped steps to the live version
    `versions[1]` (a dry run only counts them); a moved wait keeps its due time when the
    new step waits the same way, else the new step starts at once."""
    from_version, to_version = versions
    live = uow.journeys.find(tenant_id, journey_id)
    if live is None:
        raise NotFound(f"no published journey {journey_id!r}")
    if to_version != live.version:
        raise FailedPrecondition(f"runs move to the live version, {live.version}")
    if not 0 < from_version < to_version:
        raise InvalidArgument.field("from_version", f"must be from 1 to {to_version - 1}")
    old = uow.journeys.runnable(tenant_id, journey_id, from_version)
    new = uow.journeys.runnable(tenant_id, journey_id, to_version)
    if bad := check_step_map(old, new, step_map):
        raise InvalidArgument(bad)
    records = uow.instance_records.active_of(tenant_id, journey_id, from_version)
    moves = moves_of((r.step_id for r in records), step_map)
    if dry_run:
        return moves
    now = uow.now()
    for record in records:
        target = step_map.get(record.step_id)
        if not target:
            continue
        instance = load_instance(uow, tenant_id, journey_id, record.profile_id)
        wait = instance.wait
        instance.migrate(to_version, target, now)
        step = new.step(target)
        if wait is not None and wait_carries_over(wait, step):
            event = step.wait_for_event.event if wait.event else ""
            instance.wait_at(wait.due_time, wait.reason, event)
        else:
            instance.wait_at(now, "migrated")
        engine.schedule(uow, instance, new, instance.wait.due_time if instance.wait else now)
        save_instance(uow, instance)
    return moves
