"""Guards a send passes before it goes out: consent for the channel's purpose, an address
for the channel, quiet hours.

Pure functions of the request and the clock's time; the send service runs them in order
(consent, address, stock, quiet hours, frequency caps) and records the first that stops
the send.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.kernel import rules
from services.orchestrator.domain.channels import ADDRESS_TRAITS, CHANNEL_PURPOSES
from services.orchestrator.domain.contact_state import known_time_zone
from services.orchestrator.domain.sending import (
    Delayed,
    DelayReason,
    ProfileSnapshot,
    SendRequest,
    Suppressed,
    SuppressionReason,
)

NAMES = rules.Declarations(rules.CONDITION.variables, result=str)  # CEL giving an id
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def check_consent(channel: str, consent: Mapping[str, bool]) -> Suppressed | None:
    """Suppressed unless the person granted the channel's purpose: no decision is no consent."""
    purpose = CHANNEL_PURPOSES.get(channel)
    if purpose is None:
        return Suppressed(SuppressionReason.NO_CONSENT, f"channel {channel!r} has no purpose")
    if consent.get(purpose) is not True:
        state = "revoked" if purpose in consent else "never granted"
        return Suppressed(SuppressionReason.NO_CONSENT, f"{purpose} {state}")
    return None


def check_address(channel: str, profile: ProfileSnapshot) -> Suppressed | None:
    """Suppressed when the channel delivers to a trait of the person (`ADDRESS_TRAITS`) and
    the profile holds none: a send nobody can receive is not made, rather than bounced."""
    trait = ADDRESS_TRAITS.get(channel)
    if trait is None or trait in profile.addresses:
        return None
    return Suppressed(SuppressionReason.NO_ADDRESS, f"no {trait} for channel {channel}")


@dataclass(frozen=True)
class StockKey:
    product: str
    store: str


def stock_key(request: SendRequest, now: datetime, env: rules.Env) -> StockKey | Suppressed:
    """The product and store a send's stock check names (its CEL, evaluated on the step's
    variables); a send whose product or store cannot be told is suppressed out of stock:
    nothing is promoted that cannot be checked."""
    check = request.step.stock
    asset = f"journey {request.journey_id}"
    found: list[str] = []
    for name, text in (("product", check.product), ("store", check.store)):
        rule = rules.compile_rule(text, NAMES, asset=asset, field=f"send.stock.{name}")
        outcome = rule.evaluate(request.variables(now), env)
        if not outcome.ok or not outcome.value:
            why = outcome.message or "empty"
            return Suppressed(SuppressionReason.OUT_OF_STOCK, f"no {name} to check: {why}"[:150])
        found.append(str(outcome.value))
    return StockKey(*found)


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock hours in which nothing is sent, e.g. 21:00-08:00 (may span midnight)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """`HH:MM-HH:MM`; ValueError otherwise (or for an empty span)."""
        m = _SPAN.match(text.strip())
        if m is None:
            raise ValueError(f"quiet hours must be HH:MM-HH:MM, e.g. 21:00-08:00, not {text!r}")
        start, end = time(int(m[1]), int(m[2])), time(int(m[3]), int(m[4]))
        if start == end:
            raise ValueError("quiet hours must not start and end at the same time")
        return cls(start, end)

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def check_quiet_hours(
    now: datetime, time_zone: str, quiet: QuietHours | None, default_zone: str = "UTC"
) -> Delayed | None:
    """Delayed until the quiet hours end in the person's zone (the default zone when theirs
    is unknown); DST-correct: the end is a wall-clock time on the right local day."""
    if quiet is None:
        return None
    zone = ZoneInfo(known_time_zone(time_zone) or default_zone)
    local = now.astimezone(zone)
    if not quiet.contains(local.time().replace(second=0, microsecond=0)):
        return None
    day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        day += timedelta(days=1)  # the evening part of a span over midnight ends tomorrow
    wall = datetime.combine(day, quiet.end, tzinfo=zone)
    # a wall time inside a spring-forward gap does not exist: the round trip moves it past
    until = wall.astimezone(UTC).astimezone(zone).astimezone(UTC)
    return Delayed(max(until, now), DelayReason.QUIET_HOURS)
