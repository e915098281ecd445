"""What the I/O steps came to, carried from a timer's prepare step into its transaction,
and the timer that points at a run (its id and payload)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from services.orchestrator.domain.instances.profiles import Decision, ProfileView


@dataclass(frozen=True)
class Decided:
    """A decide step's answer; `decision` None when it fell back (`fallback_reason`)."""

    step_id: str
    decision: Decision | None
    fallback_reason: str = ""


@dataclass(frozen=True)
class Called:
    """A webhook step's call: the HTTP status, or the error's kind."""

    step_id: str
    outcome: str


IoResult = Decided | Called


@dataclass(frozen=True)
class RunTimer:
    """A run's one timer: where it waits, and for an I/O step what to ask."""

    journey_id: str
    profile_id: str
    run: int
    step_id: str
    io: str = ""  # '' | decide | webhook
    placement: str = ""
    timeout: float = 0.0
    url: str = ""
    context: dict[str, Any] = field(default_factory=dict)  # decide: the run's Decide context
    visit: int = 0  # decide: earlier visits of the step in this run (its request id's part)

    @property
    def timer_id(self) -> str:
        return run_timer_id(self.journey_id, self.profile_id)

    def payload(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()

    @classmethod
    def parse(cls, payload: bytes) -> RunTimer:
        return _parse(payload)


@lru_cache(maxsize=4096)
def _parse(payload: bytes) -> RunTimer:
    """Parsed once a fire: its prepare, warm and apply steps each read the payload (the
    parsed timer is shared, so nothing may change its context)."""
    return RunTimer(**json.loads(payload))


def run_timer_id(journey_id: str, profile_id: str) -> str:
    """One timer per instance: a run waits at one place at a time, and a new wait replaces it."""
    return f"j/{journey_id}/{profile_id}"


@dataclass(frozen=True)
class Prepared:
    """What a fired timer's prepare step found out before the transaction opened."""

    profile: ProfileView
    io: IoResult | None = None
