"""The journey engine on the in-memory unit of work, with a clock that moves only when told.

Timers fire as the kernel's scheduler fires them: the production handler's prepare step
(the fake directory and decider), then its apply in the transaction that takes the timer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.kernel.clock import FixedClock
from services.kernel.profile_changes import ProfilesMerge
from services.kernel.timers import Timer
from services.orchestrator import handlers, relocation, sends
from services.orchestrator.domain.instances.instance import JourneyInstance
from services.orchestrator.domain.instances.migration import Move
from services.orchestrator.domain.instances.profiles import ProfileView, TriggerEvent
from services.orchestrator.domain.instances.steps import RunTimer
from services.orchestrator.domain.journeys import read_journey, validate_journey
from services.orchestrator.domain.sending import SendOutcome, SendRequest, Sent
from services.orchestrator.engine import Entry, JourneyEngine
from services.orchestrator.instances import load_instance
from services.orchestrator.repositories import StepCount
from services.orchestrator.sends import SendPolicy
from services.orchestrator.store.memory import (
    InMemoryOrchestratorUnitOfWork,
    in_memory,
    publish_journey,
)
from services.orchestrator.timers import journey_timers
from tests.orchestrator_fakes import FakeDecider, FakeDirectory

EXAMPLES = Path(__file__).parents[3] / "services" / "orchestrator" / "examples"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TENANT = "acme"


@dataclass
class RecordingSend:
    """The send port, answering `Sent` unless told otherwise for a template; with a
    `policy`, the real send service answers (guards, ledger, stock)."""

    requests: list[SendRequest] = field(default_factory=list)
    answers: dict[str, SendOutcome] = field(default_factory=dict)
    policy: SendPolicy | None = None

    def __call__(self, uow: Any, request: SendRequest) -> SendOutcome:
        self.requests.append(request)
        if self.policy is not None:
            return sends.send(uow, self.policy, request)
        return self.answers.get(request.step.template, Sent(request.send_id))


@dataclass
class RecordingWebhooks:
    """The webhook port, answering 200 and keeping each call's step and idempotency key."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    async def call(self, tenant_id: str, run: RunTimer, key: str) -> str:
        self.calls.append((run.step_id, key))
        return "200"


class Journeys:
    def __init__(
        self, policy: SendPolicy | None = None, webhooks: RecordingWebhooks | None = None
    ) -> None:
        self.clock = FixedClock(T0)
        self.db = in_memory(self.clock)
        self.send = RecordingSend(policy=policy)
        self.directory = FakeDirectory()
        self.decider = FakeDecider()
        self.engine = JourneyEngine(self.send)
        self.timer_handler = journey_timers(self.engine, self.directory, self.decider, webhooks)
        self.fired = 0

    def publish(self, yaml_text: str, version: int = 1, *, paused: bool = False) -> str:
        journey, _ = read_journey(yaml_text)
        assert validate_journey("test", journey) == []
        publish_journey(self.db, TENANT, journey, version, paused=paused)
        return journey.journey_id

    def publish_example(self, name: str, version: int = 1) -> str:
        return self.publish((EXAMPLES / name).read_text(), version)

    def profile(self, profile_id: str, **traits: Any) -> ProfileView:
        """A person who granted email marketing, with an email address unless `email=None`."""
        traits = {"email": f"{profile_id}@example.com"} | traits
        view = ProfileView(TENANT, profile_id, traits, {"email_marketing": True})
        return self.directory.add(view)

    def event(
        self,
        profile_id: str,
        name: str,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> str:
        """The event's message id (identity counts it as the profile's)."""
        profile = self.directory.profiles.get(profile_id) or self.profile(profile_id)
        now = self.clock.now()
        message_id = f"m-{name}-{profile_id}-{now.timestamp()}"
        self.directory.events.setdefault(profile_id, set()).add(message_id)
        event = TriggerEvent(
            message_id,
            "track",
            name,
            now,
            now,
            properties or {},
            {},
            context or {},
        )
        with InMemoryOrchestratorUnitOfWork(self.db) as uow:
            self.engine.on_event(uow, event, profile)
            uow.commit()
        return message_id

    def enter_by_api(self, journey_id: str, profile_id: str) -> Entry:
        profile = self.directory.profiles.get(profile_id) or self.profile(profile_id)
        with InMemoryOrchestratorUnitOfWork(self.db) as uow:
            entry = self.engine.enter_by_api(uow, journey_id, profile, "r-1")
            uow.commit()
        return entry

    def audience_entered(self, profile_id: str, audience_id: str) -> None:
        profile = self.directory.profiles.get(profile_id) or self.profile(profile_id)
        with InMemoryOrchestratorUnitOfWork(self.db) as uow:
            self.engine.on_audience_entered(uow, profile, audience_id, f"a-{profile_id}")
            uow.commit()

    def merge(self, survivor: str, *merged: str) -> None:
        """As the profiles consumer follows identity's ProfilesMerged: the copies (contact
        states, sends), then the runs, in one transaction."""
        merge = ProfilesMerge(TENANT, survivor, tuple(merged), 9)
        with InMemoryOrchestratorUnitOfWork(self.db) as uow:
            handlers.record_profiles_merge(uow, merge)
            relocation.merge_runs(self.engine, uow, merge)
            uow.commit()

    async def unmerge(self, split: str, *new: str) -> None:
        """As the profiles consumer follows identity's ProfileUnmerged (the fake directory
        says which events belong to whom)."""
        with InMemoryOrchestratorUnitOfWork(self.db) as uow:
            runs = relocation.split_candidates(uow, TENANT, split)
        kept = await self.directory.event_ids(TENANT, split)
        belongs = {p: await self.directory.event_ids(TENANT, p) for p in new}
        moves = relocation.runs_to_split(runs, belongs, kept)
        with InMemoryOrchestratorUnitOfWork(self.db) as uow:
            relocation.split_runs(self.engine, uow, TENANT, split, moves)
            uow.commit()

    def migrate(
        self, journey_id: str, versions: tuple[int, int], steps: dict[str, str], *, dry_run: bool
    ) -> list[Move]:
        with InMemoryOrchestratorUnitOfWork(self.db) as uow:
            moves = relocation.migrate_runs(
                self.engine, uow, TENANT, journey_id, versions, steps, dry_run=dry_run
            )
            uow.commit()
        return moves

    def forget(self, profile_id: str) -> None:
        with InMemoryOrchestratorUnitOfWork(self.db) as uow:
            relocation.forget_runs(uow, TENANT, profile_id)
            uow.commit()

    async def advance(self, delta: timedelta = timedelta(0)) -> None:
        """Moves the clock to each due timer in turn and fires it, as a punctual scheduler
        would, until `delta` has passed."""
        end = self.clock.now() + delta
        while due := sorted((d, key) for key, (d, _) in self.db.state.timers.items() if d <= end):
            due_time, (tenant, timer_id) = due[0]
            if due_time > self.clock.now():
                self.clock.advance(due_time - self.clock.now())
            payload = self.db.state.timers[(tenant, timer_id)][1]
            timer = Timer(f"t{self.fired}", tenant, timer_id, "journey.step", due_time, payload)
            assert self.timer_handler.prepare is not None
            prepared = await self.timer_handler.prepare(timer)
            with InMemoryOrchestratorUnitOfWork(self.db) as uow:
                if uow.state.timers.pop(
                    (tenant, timer_id), None
                ):  # taken in the firing transaction
                    self.timer_handler.apply(uow, timer, prepared)  # type: ignore[arg-type]
                uow.commit()
            self.fired += 1
        self.clock.advance(end - self.clock.now())

    def instance(self, journey_id: str, profile_id: str) -> JourneyInstance:
        with InMemoryOrchestratorUnitOfWork(self.db) as uow:
            return load_instance(uow, TENANT, journey_id, profile_id)

    def stats(self, journey_id: str) -> dict[tuple[int, str, str], int]:
        with InMemoryOrchestratorUnitOfWork(self.db) as uow:
            counts: list[StepCount] = handlers.get_journey_stats(uow, TENANT, journey_id)
        return {(c.journey_version, c.step_id, c.metric): c.count for c in counts}

    def sent_templates(self) -> list[tuple[str, str]]:
        return [(r.profile.profile_id, r.step.template) for r in self.send.requests]
