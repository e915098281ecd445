"""The seam between the journey engine and sending: what a `send` step asks, what it gets back.

The engine hands a `SendRequest` (the instance, the step, the profile as the instance sees
it, the decision's output) to the send service (`services.orchestrator.sends`), which runs
the guards, records the outcome in the send ledger and queues the send command. It answers
`Sent`, `Suppressed(reason)` (the engine moves on: to the step's `alternative` when the
reason is out of stock, else to `next`) or `Delayed(until)` (the engine schedules a timer
and asks again then, with the same request). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.ids import stable_id
from services.orchestrator.domain.channels import held_addresses


class SuppressionReason(StrEnum):
    """Why a send did not go out; recorded in the ledger and counted per step."""

    NO_CONSENT = "no_consent"  # no granted consent for the channel's purpose
    FREQUENCY_CAP = "frequency_cap"  # a cap is full, or a higher-value send took its last slot
    OUT_OF_STOCK = "out_of_stock"  # the product it promotes is not in stock at the store
    NO_TEMPLATE = "no_template"  # the template is not published (or cannot render)
    NO_ADDRESS = "no_address"  # the person has no address for the channel (e.g. no email)


class DelayReason(StrEnum):
    QUIET_HOURS = "quiet_hours"  # inside the quiet hours of the person's time zone
    CAP_HOLD = "cap_hold"  # wants a cap's last slot: waits out the hold window, then competes


@dataclass(frozen=True)
class ProfileSnapshot:
    """The person as the instance sees them: traits, consent per purpose, IANA time zone,
    identity's computed traits and audiences, and the address traits identity holds whose
    values the snapshot lacks (`sealed_addresses`: a person seen through the contact state,
    where personal traits are known by name only, their values sealed with identity until
    a send renders them)."""

    profile_id: str
    traits: Mapping[str, Any] = field(default_factory=dict)
    consent: Mapping[str, bool] = field(default_factory=dict)
    time_zone: str = ""
    version: int = 0  # identity's profile version the consent was read at (0: unknown)
    computed: Mapping[str, Any] = field(default_factory=dict)
    audiences: frozenset[str] = frozenset()
    sealed_addresses: frozenset[str] = frozenset()

    @property
    def addresses(self) -> frozenset[str]:
        """The address traits (`channels.ADDRESS_TRAITS`) the person holds."""
        return held_addresses(self.traits) | self.sealed_addresses

    def as_cel(self) -> dict[str, Any]:
        """The `profile` variable of CEL conditions and templates."""
        return {
            "id": self.profile_id,
            "traits": dict(self.traits),
            "computed": dict(self.computed),
            "consent": dict(self.consent),
            "audiences": sorted(self.audiences),
            "identifiers": {},
            "timezone": self.time_zone,
        }


@dataclass(frozen=True)
class SendRequest:
    """One visit of a `send` step by one instance. `visit` counts earlier visits of the step
    by the instance (a journey may loop through a wait), so each visit sends at most once."""

    tenant_id: str
    instance_id: str
    journey_id: str
    journey_version: int
    step_id: str
    step: pb.SendStep
    profile: ProfileSnapshot
    decision: Mapping[str, Any] | None = None  # the `decision` variable; score ranks for a cap
    event: Mapping[str, Any] | None = None  # the `event` variable, when an event drove the step
    visit: int = 0
    priority: int = 0  # the journey's: breaks a tie of value for a cap's last slot
    run_profile_id: str = ""  # the instance's profile ('': `profile`'s), as the ledger keeps it

    @property
    def send_id(self) -> str:
        """The idempotency key (instance + step [+ visit]): the send command's event id."""
        base = f"send:{self.instance_id}:{self.step_id}"
        return f"{base}:{self.visit}" if self.visit else base

    @property
    def event_id(self) -> str:
        """The send command's event id: the send id, as a name-based UUID (event ids hold 64)."""
        return stable_id(self.tenant_id, self.send_id)

    def variables(self, now: datetime) -> dict[str, Any]:
        """The CEL variables of the step: profile, event, context, decision."""
        decision = {"action": "", "product": "", "placement": "", "score": 0.0}
        decision |= {"reasons": [], "attributes": {}} | dict(self.decision or {})
        return {
            "profile": self.profile.as_cel(),
            "event": dict(self.event or {}),
            "decision": decision,
            "context": {
                "now": now,
                "tenant": self.tenant_id,
                "channel": self.step.channel,
                "timezone": self.profile.time_zone,
                "journey": self.journey_id,
                "step": self.step_id,
            },
        }

    @property
    def value(self) -> float:
        """What this send is worth when it competes for a cap's last slot."""
        score = (self.decision or {}).get("score", 0.0)
        return float(score) if isinstance(score, int | float) else 0.0


@dataclass(frozen=True)
class Sent:
    send_id: str


@dataclass(frozen=True)
class Suppressed:
    reason: SuppressionReason
    detail: str = ""


@dataclass(frozen=True)
class Delayed:
    until: datetime
    reason: DelayReason


SendOutcome = Sent | Suppressed | Delayed


def step_after(step: pb.Step, outcome: SendOutcome) -> str | None:
    """Where the engine goes after a send step: `alternative` when suppressed for stock
    (and one is set), else `next`; None while delayed (the step is asked again)."""
    if isinstance(outcome, Delayed):
        return None
    out_of_stock = isinstance(outcome, Suppressed) and (
        outcome.reason is SuppressionReason.OUT_OF_STOCK
    )
    if out_of_stock and step.send.alternative:
        return step.send.alternative
    return step.next
