"""What happens to a journey instance, in the past tense; immutable, with aware UTC times.

Each mirrors its message in `layercake.orchestrator.v1.instance_events` field by field,
so the kernel's event-type registry maps it (see `store.instance_events`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class InstanceEntered:
    tenant_id: str
    journey_id: str
    profile_id: str
    journey_version: int
    run: int
    entry: str  # event | audience | api | back_in_stock | merge
    cause_id: str
    enter_time: datetime
    step_id: str
    sent_step_ids: tuple[str, ...] = ()
    context: dict[str, Any] = field(default_factory=dict)  # what decide steps pass to Decide
    entry_message_id: str = ""  # the ingested event that entered the run, if one did


@dataclass(frozen=True)
class WaitStarted:
    run: int
    step_id: str
    due_time: datetime
    event: str  # wait_for_event: the event that ends it early
    reason: str  # wait | wait_for_event | io | send_delayed | paused


@dataclass(frozen=True)
class StepTaken:
    run: int
    step_id: str
    next_step_id: str
    outcome: str
    take_time: datetime


@dataclass(frozen=True)
class SplitAssigned:
    run: int
    step_id: str
    bucket: int
    path_index: int  # -1: the holdout
    next_step_id: str
    assign_time: datetime


@dataclass(frozen=True)
class SendRecorded:
    run: int
    step_id: str
    outcome: str  # sent | suppressed | delayed
    reason: str
    command_id: str
    until_time: datetime | None
    record_time: datetime


@dataclass(frozen=True)
class DecisionRecorded:
    run: int
    step_id: str
    action: str
    product: str
    placement: str
    score: float
    fallback_reason: str
    decide_time: datetime


@dataclass(frozen=True)
class InstanceExited:
    run: int
    step_id: str
    reason: str  # completed | converted | merged | unmerged | forgotten | holdout | archived
    exit_time: datetime
    survivor_profile_id: str = ""


@dataclass(frozen=True)
class RunAbsorbed:
    run: int
    merged_profile_id: str
    sent_step_ids: tuple[str, ...]
    absorb_time: datetime


@dataclass(frozen=True)
class RunMigrated:
    run: int
    from_version: int
    to_version: int
    from_step_id: str
    to_step_id: str
    migrate_time: datetime


@dataclass(frozen=True)
class FeedbackReceived:
    run: int
    journey_version: int
    step_id: str
    send_id: str
    kind: str  # delivered | opened | clicked | bounced | complained | unsubscribed
    receive_time: datetime


InstanceEvent = (
    InstanceEntered
    | WaitStarted
    | StepTaken
    | SplitAssigned
    | SendRecorded
    | DecisionRecorded
    | InstanceExited
    | RunAbsorbed
    | RunMigrated
    | FeedbackReceived
)
