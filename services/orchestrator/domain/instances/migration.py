"""A migration map: in-flight runs of an older journey version move to the live one, step
by step (old step -> new step), with a dry run that counts what would move where. Pure.

The counts come from the same runs the move then takes, in one transaction, so a dry run
and the move that follows it (with nothing entering or leaving meanwhile) agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.errors import FieldViolation, Violations
from services.orchestrator.domain.instances.events import WaitStarted
from services.orchestrator.domain.instances.runnable import RunnableJourney


@dataclass(frozen=True)
class Move:
    """`count` runs at `from_step_id` going to `to_step_id` ('' : they stay where they are)."""

    from_step_id: str
    to_step_id: str
    count: int


def check_step_map(
    old: RunnableJourney, new: RunnableJourney, step_map: Mapping[str, str]
) -> list[FieldViolation]:
    """Every key a step of the old version, every value a step of the new one."""
    bad = Violations()
    if not step_map:
        bad.add("step_map", "must map at least one step of the old version to one of the new")
    for old_step, new_step in sorted(step_map.items()):
        if old_step not in old.steps:
            bad.add(f"step_map.{old_step}", f"is not a step of version {old.version}")
        elif new_step not in new.steps:
            bad.add(f"step_map.{old_step}", f"'{new_step}' is not a step of version {new.version}")
    return bad.items


def moves_of(steps: Iterable[str], step_map: Mapping[str, str]) -> list[Move]:
    """How many runs at each step go where (runs at unmapped steps stay: `to_step_id` '')."""
    counts = Counter((step, step_map.get(step, "")) for step in steps)
    return [Move(f, t, n) for (f, t), n in sorted(counts.items())]


def wait_carries_over(wait: WaitStarted | None, to_step: pb.Step) -> bool:
    """A timed wait moved to a timed wait (or an event wait to an event wait) keeps its due
    time; any other move starts the new step at once."""
    if wait is None:
        return False
    kind = to_step.WhichOneof("action")
    return (wait.reason, kind) in {("wait", "wait"), ("wait_for_event", "wait_for_event")}
