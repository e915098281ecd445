"""A published journey version made ready to run: steps by id, every condition compiled.

Versions are immutable, so one is compiled once per process and kept (see the catalog).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel import rules
from services.orchestrator.domain.journeys.validation import VARIABLES, expressions


@dataclass(frozen=True)
class RunnableJourney:
    tenant_id: str
    journey_id: str
    version: int
    definition: pb.Journey
    steps: Mapping[str, pb.Step]
    conditions: Mapping[str, rules.Rule]  # by field path, as validation names them

    @property
    def start(self) -> str:
        return self.definition.steps[0].id

    def step(self, step_id: str) -> pb.Step:
        return self.steps[step_id]

    def holds(self, field: str, variables: Mapping[str, Any], env: rules.Env) -> bool:
        """Whether the condition at `field` holds; an absent condition holds, an error not."""
        rule = self.conditions.get(field)
        return rule is None or rule.evaluate(variables, env).holds

    def goal_met(self, event_name: str, variables: Mapping[str, Any], env: rules.Env) -> bool:
        return any(
            goal.event == event_name and self.holds(f"goals[{i}].when", variables, env)
            for i, goal in enumerate(self.definition.goals)
        )

    def awaits(self, event_name: str) -> bool:
        """Whether a run of this version reacts to `event_name` (a goal or a wait for it)."""
        return event_name in self.awaited

    def entered_by(self, trigger: str) -> str:
        """The event name or audience id that enters people, for that trigger ('' if another)."""
        entry = self.definition.entry
        if entry.WhichOneof("trigger") != trigger:
            return ""
        return (
            entry.event if trigger == "event" else entry.audience if trigger == "audience" else ""
        )

    def listens_to(self) -> frozenset[str]:
        """Every event name this version reacts to: its entry, goals and waits."""
        own = {self.entered_by("event")} - {""}
        return self.awaited | own

    @property
    def awaited(self) -> frozenset[str]:
        goals = {g.event for g in self.definition.goals}
        waits = {
            s.wait_for_event.event
            for s in self.definition.steps
            if s.WhichOneof("action") == "wait_for_event"
        }
        return frozenset(goals | waits)


def runnable(tenant_id: str, version: int, journey: pb.Journey) -> RunnableJourney:
    """Compiles a validated journey; its conditions compiled when it was saved, so they do."""
    conditions = rules.compile_rules(
        dict(expressions(journey)), VARIABLES, asset=f"journey {journey.journey_id}"
    )
    return RunnableJourney(
        tenant_id=tenant_id,
        journey_id=journey.journey_id,
        version=version,
        definition=journey,
        steps={s.id: s for s in journey.steps},
        conditions=conditions,
    )
