"""The step engine: moves a run through its journey version until it must stop.

`walk` runs the steps that need nothing from outside (branch, split, exit, the start of a
wait) and stops at a wait (the caller schedules its timer), at a step the caller must act
on (send, update_profile, decide, webhook: `Acting`), or at the end. `timer_due` and
`event_arrived` say how a fired wait or an arriving event moves the run first. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel import rules
from services.orchestrator.domain.instances.buckets import bucket_of, path_of
from services.orchestrator.domain.instances.instance import JourneyInstance
from services.orchestrator.domain.instances.local_time import next_local_time
from services.orchestrator.domain.instances.profiles import (
    ProfileView,
    TriggerEvent,
    activation,
    time_zone_of,
)
from services.orchestrator.domain.instances.runnable import RunnableJourney

HOLD = timedelta(minutes=1)  # a paused journey's runs look again this often
ACTING = frozenset({"send", "update_profile", "decide", "webhook"})


@dataclass(frozen=True)
class Moment:
    """What one walk knows: who, what happened, when, and whether the journey is paused."""

    profile: ProfileView
    event: TriggerEvent | None
    now: datetime
    env: rules.Env
    paused: bool = False


@dataclass(frozen=True)
class Waiting:
    due: datetime


@dataclass(frozen=True)
class Acting:
    step: pb.Step


@dataclass(frozen=True)
class Ended:
    reason: str


Stop = Waiting | Acting | Ended


def variables(
    instance: JourneyInstance, journey: RunnableJourney, moment: Moment
) -> dict[str, Any]:
    """The CEL variables at the run's current step."""
    d = instance.decision
    decision = (
        {"action": d.action, "product": d.product, "placement": d.placement, "score": d.score}
        if d is not None
        else None
    )
    return activation(
        moment.profile,
        moment.event,
        decision,
        now=moment.now,
        journey_id=journey.journey_id,
        step_id=instance.step_id,
    )


def walk(instance: JourneyInstance, journey: RunnableJourney, moment: Moment) -> Stop:
    """Runs steps from the current one; validation ruled out loops without a wait, so
    this ends within one pass over the steps."""
    now = moment.now
    for _ in range(len(journey.steps) + 1):
        if not instance.active:
            return Ended(instance.exit_reason)
        if moment.paused:
            instance.wait_at(now + HOLD, "paused")
            return Waiting(now + HOLD)
        step = journey.step(instance.step_id)
        kind = step.WhichOneof("action")
        if kind == "wait":
            if step.wait.HasField("duration"):
                due = now + step.wait.duration.ToTimedelta()
            else:
                zone = time_zone_of(moment.profile, moment.event)
                due = next_local_time(now, step.wait.until_local_time, zone)
            instance.wait_at(due, "wait")
            return Waiting(due)
        if kind == "wait_for_event":
            due = now + step.wait_for_event.timeout.ToTimedelta()
            instance.wait_at(due, "wait_for_event", step.wait_for_event.event)
            return Waiting(due)
        if kind == "branch":
            found = variables(instance, journey, moment)
            for i, path in enumerate(step.branch.paths):
                if journey.holds(f"steps[{step.id}].branch[{i}].when", found, moment.env):
                    instance.take(path.next, f"branch[{i}]", now)
                    break
            else:
                instance.take(step.branch.otherwise, "otherwise", now)
            continue
        if kind == "split":
            bucket = bucket_of(journey.journey_id, step.id, instance.profile_id)
            index = path_of(bucket, step.split.holdout, [p.weight for p in step.split.paths])
            target = step.split.paths[index].next if index >= 0 else ""
            instance.assign_split(bucket, index, target, now)
            if index < 0:
                instance.exit("holdout", now)
            continue
        if kind == "exit":
            instance.exit("completed", now)
            continue
        if kind in ACTING:
            return Acting(step)
        raise AssertionError(f"step {step.id} has no action")
    raise AssertionError(f"{journey.journey_id} v{journey.version} walked in a loop")


def timer_due(instance: JourneyInstance, journey: RunnableJourney, now: datetime) -> None:
    """A run's wait is over: a timed wait or an event's timeout moves on; a held, delayed or
    I/O step is run again by the walk, a migrated run's new step started."""
    wait = instance.wait
    assert wait is not None
    step = journey.step(instance.step_id)
    if wait.reason == "wait":
        instance.take(step.next, "elapsed", now)
    elif wait.reason == "wait_for_event":
        instance.take(step.wait_for_event.on_timeout, "timeout", now)


def event_arrived(instance: JourneyInstance, journey: RunnableJourney, moment: Moment) -> str:
    """What `moment.event` does to an active run: 'converted' (a goal: the run exits),
    'awaited' (its wait_for_event is over: it moved on), or ''."""
    event = moment.event
    assert event is not None
    found = variables(instance, journey, moment)
    if journey.goal_met(event.name, found, moment.env):
        instance.exit("converted", moment.now)
        return "converted"
    wait = instance.wait
    if wait is None or wait.reason != "wait_for_event" or wait.event != event.name:
        return ""
    step = journey.step(instance.step_id)
    if not journey.holds(f"steps[{step.id}].wait_for_event.when", found, moment.env):
        return ""
    instance.take(step.wait_for_event.on_event, "event", moment.now)
    return "awaited"
