"""Journey instances on the unit of work: loaded from their stream, saved by appending
their pending events, with the instances read model and step counts in the same
transaction (a stale writer gets ConcurrencyError and nothing is kept)."""

from __future__ import annotations

from collections import Counter

from services.kernel.principals import Actor
from services.kernel.store.records import EventMetadata
from services.orchestrator.domain.instances import events as ev
from services.orchestrator.domain.instances.instance import JourneyInstance, instance_stream_id
from services.orchestrator.mapping import INSTANCE_EVENTS
from services.orchestrator.ports import OrchestratorUnitOfWork
from services.orchestrator.repositories import InstanceRecord

ENGINE = Actor.parse("system:orchestrator")


def load_instance(
    uow: OrchestratorUnitOfWork, tenant_id: str, journey_id: str, profile_id: str
) -> JourneyInstance:
    """The instance as of its stream (a blank one before any entry)."""
    stored = uow.load(instance_stream_id(tenant_id, journey_id, profile_id))
    blank = JourneyInstance.blank(tenant_id, journey_id, profile_id)
    events = (INSTANCE_EVENTS.decode(s, None) for s in stored)
    return JourneyInstance.replay(events, len(stored), blank)


def save_instance(
    uow: OrchestratorUnitOfWork, instance: JourneyInstance, cause_id: str = ""
) -> None:
    """Appends what the instance recorded; updates its row and the step counts."""
    if not instance.pending:
        return
    metadata = EventMetadata(tenant_id=instance.tenant_id, actor=ENGINE, causation_id=cause_id[:64])
    new = [INSTANCE_EVENTS.new_event(e, None) for e in instance.pending]
    counts = step_counts(instance.journey_version, instance.pending)
    uow.append(instance.stream_id, instance.version, new, metadata)
    instance.saved()
    uow.instance_records.put(record_of(instance))
    if counts:
        uow.instance_records.add_counts(instance.tenant_id, instance.journey_id, counts)


def record_of(instance: JourneyInstance) -> InstanceRecord:
    wait = instance.wait
    assert instance.enter_time is not None, "an entered instance"
    return InstanceRecord(
        tenant_id=instance.tenant_id,
        journey_id=instance.journey_id,
        profile_id=instance.profile_id,
        journey_version=instance.journey_version,
        run=instance.run,
        active=instance.active,
        step_id=instance.step_id,
        wait_reason=wait.reason if wait else "",
        wait_event=wait.event if wait else "",
        due_time=wait.due_time if wait else None,
        enter_time=instance.enter_time,
        exit_reason=instance.exit_reason,
        stream_version=instance.version,
    )


def step_counts(version: int, events: list[ev.InstanceEvent]) -> Counter[tuple[int, str, str]]:
    """What `events` add to the counts per (version, step, metric)."""
    counts: Counter[tuple[int, str, str]] = Counter()
    for e in events:
        match e:
            case ev.InstanceEntered():
                version = e.journey_version
                counts[(version, "", "entered")] += 1
                counts[(version, "", f"entered:{e.entry}")] += 1
                counts[(version, e.step_id, "entered")] += 1
            case ev.StepTaken() | ev.SplitAssigned() if e.next_step_id:
                counts[(version, e.next_step_id, "entered")] += 1
            case ev.SendRecorded():
                metric = f"suppressed:{e.reason}" if e.outcome == "suppressed" else e.outcome
                counts[(version, e.step_id, metric)] += 1
            case ev.RunMigrated():
                counts[(e.from_version, "", "migrated_out")] += 1
                version = e.to_version
                counts[(version, "", "migrated_in")] += 1
                counts[(version, e.to_step_id, "entered")] += 1
            case ev.FeedbackReceived():
                counts[(e.journey_version, e.step_id, e.kind)] += 1
            case ev.InstanceExited():
                counts[(version, "", "converted" if e.reason == "converted" else "exited")] += 1
                counts[(version, "", f"exited:{e.reason}")] += 1
    return counts
