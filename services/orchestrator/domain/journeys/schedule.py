"""A scheduled entry's occurrences: when its cron fires next, in its time zone, DST-correct.

The cron is read on the wall clock of the schedule's zone (`0 9 * * *` in Europe/Paris is
09:00 in Paris, winter and summer). A wall time the spring-forward gap skips is moved on
by the gap (02:30 -> 03:30); a wall time the fall-back repeats fires once, at its first
pass. Each occurrence is an instant, and its id names the journey and that instant. Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

MAX_STEPS = 1000  # wall times tried before giving up (a cron like `0 0 30 2 *` never fires)


class NeverFires(ValueError):
    """The cron names no time that exists (e.g. the 30th of February)."""


def cron_problem(cron: str) -> str:
    """Why `cron` is not a five-field cron ('' when it is)."""
    if len(cron.split()) != 5:
        return "must be five cron fields (minute hour day month weekday), e.g. '0 9 * * 1'"
    if not croniter.is_valid(cron):
        return f"{cron!r} is not a valid cron, e.g. '0 9 * * 1'"
    try:
        next_occurrence(cron, "", datetime(2000, 1, 1, tzinfo=UTC))
    except NeverFires:
        return f"{cron!r} never fires"
    return ""


def next_occurrence(cron: str, time_zone: str, after: datetime) -> datetime:
    """The first instant strictly after `after` (aware) at which `cron` fires in `time_zone`
    ('' is UTC), in UTC. NeverFires when no wall time within MAX_STEPS exists."""
    zone = ZoneInfo(time_zone or "UTC")
    wall = after.astimezone(zone).replace(tzinfo=None)
    ticks = croniter(cron, wall - timedelta(microseconds=1))  # `after`'s own minute counts
    for _ in range(MAX_STEPS):
        try:
            candidate: datetime = ticks.get_next(datetime)
        except CroniterBadDateError as e:
            raise NeverFires(f"{cron!r} never fires") from e
        instant = _instant(candidate, zone)
        if instant > after:
            return instant
    raise NeverFires(f"{cron!r} does not fire after {after.isoformat()}")


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant of a naive wall time in `zone`: its first pass when repeated (fold 0),
    the end of the gap when skipped (the round trip through UTC moves it past)."""
    local = wall.replace(tzinfo=zone, fold=0)
    return local.astimezone(UTC).astimezone(zone).astimezone(UTC)


@dataclass(frozen=True)
class Occurrence:
    """One firing of a journey version's schedule, and how far its entries have gone:
    `after` is the last profile id entered (pages go in profile id order)."""

    journey_id: str
    version: int
    time: datetime
    after: str = ""

    @property
    def occurrence_id(self) -> str:
        """What each entry of this occurrence records as its cause."""
        return f"schedule:{self.journey_id}@{self.time.astimezone(UTC).isoformat()}"

    def payload(self) -> bytes:
        """The schedule timer's payload."""
        return json.dumps(
            {
                "journey_id": self.journey_id,
                "version": self.version,
                "time": self.time.astimezone(UTC).isoformat(),
                "after": self.after,
            }
        ).encode()

    @classmethod
    def parse(cls, payload: bytes) -> Occurrence:
        found = json.loads(payload)
        return cls(
            found["journey_id"],
            int(found["version"]),
            datetime.fromisoformat(found["time"]),
            found.get("after", ""),
        )
