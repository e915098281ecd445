"""The journey instance aggregate: every run of one profile through one journey.

It checks the rules before recording: one run at a time, the journey's re-entry policy,
events for the current run only. State changes only by applying events (`apply`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.aggregate import Aggregate
from services.orchestrator.domain.instances.events import (
    DecisionRecorded,
    FeedbackReceived,
    InstanceEntered,
    InstanceEvent,
    InstanceExited,
    RunAbsorbed,
    RunMigrated,
    SendRecorded,
    SplitAssigned,
    StepTaken,
    WaitStarted,
)
from services.orchestrator.domain.instances.profiles import BACK_IN_STOCK

STREAM_PREFIX = "journey-instance/"
MAX_STREAM_ID = 200


def instance_stream_id(tenant_id: str, journey_id: str, profile_id: str) -> str:
    """Readable when it fits the event store's 200 characters, else a digest of the same."""
    name = f"{tenant_id}/{journey_id}/{profile_id}"
    if len(STREAM_PREFIX) + len(name) <= MAX_STREAM_ID:
        return STREAM_PREFIX + name
    return f"{STREAM_PREFIX}sha256:{hashlib.sha256(name.encode()).hexdigest()}"


@dataclass
class JourneyInstance(Aggregate[InstanceEvent]):
    tenant_id: str = ""
    journey_id: str = ""
    profile_id: str = ""
    run: int = 0  # the latest run; 0 before the first entry
    journey_version: int = 0  # the version the latest run walks
    active: bool = False
    step_id: str = ""
    wait: WaitStarted | None = None
    sent_steps: frozenset[str] = frozenset()
    # this run's finished visits per send step (sent or suppressed) and decide step
    # (decided or fell back): a journey looping back through a wait sends and decides again,
    # each visit under its own idempotency key
    visits: Mapping[str, int] = field(default_factory=dict)
    decision: DecisionRecorded | None = None
    enter_time: datetime | None = None
    exit_reason: str = ""
    context: Mapping[str, Any] = field(default_factory=dict)  # the run's Decide context
    restocked: frozenset[str] = frozenset()  # sends whose back-in-stock re-entered a run
    entry_message_id: str = ""  # the ingested event that entered the latest run
    # its sends, by send id: (run, journey version, step), for the channel's feedback
    sends: Mapping[str, tuple[int, int, str]] = field(default_factory=dict)
    feedback_seen: frozenset[tuple[str, str]] = frozenset()  # (send id, kind) recorded

    @classmethod
    def blank(cls, tenant_id: str, journey_id: str, profile_id: str) -> JourneyInstance:
        return cls(tenant_id=tenant_id, journey_id=journey_id, profile_id=profile_id)

    def visit(self, step_id: str) -> int:
        """How many times this run has already passed the send or decide step."""
        return self.visits.get(step_id, 0)

    @property
    def stream_id(self) -> str:
        return instance_stream_id(self.tenant_id, self.journey_id, self.profile_id)

    @property
    def run_id(self) -> str:
        """This run of this instance, as the send side keys its sends (a bounded uuid)."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"layercake:{self.stream_id}#{self.run}"))

    def refusal(self, journey: pb.Journey, now: datetime) -> str:
        """Why the profile may not enter now ('' when it may), by the re-entry policy."""
        if self.active:
            return "inside"
        if self.run == 0:
            return ""
        policy = journey.reentry.policy
        if policy == pb.REENTRY_POLICY_ALWAYS:
            return ""
        if policy == pb.REENTRY_POLICY_AFTER_COOLDOWN:
            assert self.enter_time is not None
            cooldown = journey.reentry.cooldown.ToTimedelta()
            return "" if now >= self.enter_time + cooldown else "cooldown"
        return "entered_before"

    def enter(
        self,
        version: int,
        step_id: str,
        entry: str,
        cause_id: str,
        now: datetime,
        sent_step_ids: tuple[str, ...] = (),
        context: Mapping[str, Any] | None = None,
        entry_message_id: str = "",
    ) -> None:
        """Starts a new run at `step_id`; the caller checked `refusal` (a merge does not).
        `context` is what its decide steps will pass to Decide (see `decide_context`)."""
        if self.active:
            raise ValueError(f"{self.stream_id} is inside run {self.run} already")
        self._record(
            InstanceEntered(
                tenant_id=self.tenant_id,
                journey_id=self.journey_id,
                profile_id=self.profile_id,
                journey_version=version,
                run=self.run + 1,
                entry=entry,
                cause_id=cause_id,
                enter_time=now,
                step_id=step_id,
                sent_step_ids=tuple(sorted(sent_step_ids)),
                context=dict(context or {}),
                entry_message_id=entry_message_id,
            )
        )

    def wait_at(self, due: datetime, reason: str, event: str = "") -> None:
        self._require_active()
        self._record(WaitStarted(self.run, self.step_id, due, event, reason))

    def take(self, next_step_id: str, outcome: str, now: datetime) -> None:
        """Leaves the current step for `next_step_id`."""
        self._require_active()
        self._record(StepTaken(self.run, self.step_id, next_step_id, outcome, now))

    def assign_split(self, bucket: int, path_index: int, next_step_id: str, now: datetime) -> None:
        self._require_active()
        self._record(SplitAssigned(self.run, self.step_id, bucket, path_index, next_step_id, now))

    def record_send(
        self,
        outcome: str,
        now: datetime,
        *,
        reason: str = "",
        command_id: str = "",
        until: datetime | None = None,
    ) -> None:
        self._require_active()
        self._record(SendRecorded(self.run, self.step_id, outcome, reason, command_id, until, now))

    def record_decision(
        self,
        now: datetime,
        *,
        placement: str,
        action: str = "",
        product: str = "",
        score: float = 0.0,
        fallback_reason: str = "",
    ) -> None:
        self._require_active()
        self._record(
            DecisionRecorded(
                self.run, self.step_id, action, product, placement, score, fallback_reason, now
            )
        )

    def receive_feedback(self, send_id: str, kind: str, now: datetime) -> bool:
        """Records the channel's report on one of this instance's sends, once per send and
        kind (a redelivered report records nothing); the run neither wakes nor moves.
        False when the send is not this instance's."""
        sent = self.sends.get(send_id)
        if sent is None:
            return False
        if (send_id, kind) not in self.feedback_seen:
            run, version, step_id = sent
            self._record(FeedbackReceived(run, version, step_id, send_id, kind, now))
        return True

    def absorb(self, merged_profile_id: str, sent_step_ids: frozenset[str], now: datetime) -> None:
        """Takes in a merged-away profile's run of this journey: its sends count here."""
        self._require_active()
        self._record(RunAbsorbed(self.run, merged_profile_id, tuple(sorted(sent_step_ids)), now))

    def migrate(self, to_version: int, to_step_id: str, now: datetime) -> None:
        """Moves the run to `to_step_id` of version `to_version`; its wait is set anew."""
        self._require_active()
        if to_version <= self.journey_version:
            raise ValueError(f"{self.stream_id} walks v{self.journey_version} already")
        self._record(
            RunMigrated(self.run, self.journey_version, to_version, self.step_id, to_step_id, now)
        )

    def exit(self, reason: str, now: datetime, survivor_profile_id: str = "") -> None:
        self._require_active()
        self._record(InstanceExited(self.run, self.step_id, reason, now, survivor_profile_id))

    def _require_active(self) -> None:
        if not self.active:
            raise ValueError(f"{self.stream_id} is not inside the journey")

    def apply(self, event: InstanceEvent) -> None:
        match event:
            case InstanceEntered():
                self.tenant_id, self.journey_id = event.tenant_id, event.journey_id
                self.profile_id = event.profile_id
                self.run, self.journey_version = event.run, event.journey_version
                self.active, self.step_id, self.wait = True, event.step_id, None
                self.sent_steps, self.visits = frozenset(event.sent_step_ids), {}
                self.decision, self.enter_time, self.exit_reason = None, event.enter_time, ""
                self.context, self.entry_message_id = event.context, event.entry_message_id
                if event.entry == BACK_IN_STOCK:
                    self.restocked = self.restocked | {event.cause_id}
            case WaitStarted():
                self.wait = event
            case StepTaken() | SplitAssigned():
                self.step_id, self.wait = event.next_step_id, None
            case SendRecorded():
                if event.outcome == "sent":
                    self.sent_steps = self.sent_steps | {event.step_id}
                    if event.command_id:
                        sent = (event.run, self.journey_version, event.step_id)
                        self.sends = {**self.sends, event.command_id: sent}
                if event.outcome != "delayed":  # a delayed send is tried again, same visit
                    self.visits = {**self.visits, event.step_id: self.visit(event.step_id) + 1}
            case RunAbsorbed():
                self.sent_steps = self.sent_steps | set(event.sent_step_ids)
            case RunMigrated():
                self.journey_version, self.step_id = event.to_version, event.to_step_id
                self.wait = None
            case DecisionRecorded():
                self.decision = event
                self.visits = {**self.visits, event.step_id: self.visit(event.step_id) + 1}
            case InstanceExited():
                self.active, self.wait, self.exit_reason = False, None, event.reason
            case FeedbackReceived():
                self.feedback_seen = self.feedback_seen | {(event.send_id, event.kind)}
