"""The next moment a wall clock in a time zone shows a time of day, DST included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


def next_local_time(now: datetime, hh_mm: str, zone: str) -> datetime:
    """The first instant after `now` at which `zone` (UTC when '') reads `hh_mm`, in UTC.

    A time skipped by a spring-forward gap happens at the same distance past the gap's start
    (02:30 on a 02:00->03:00 day is 03:30); a time repeated in the autumn, the first time.
    """
    tz = ZoneInfo(zone) if zone else UTC
    hour, minute = (int(p) for p in hh_mm.split(":"))
    local = now.astimezone(tz)
    for days in range(0, 3):
        day = local.date() + timedelta(days=days)
        wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz, fold=0)
        at = wall.astimezone(UTC)
        if at > now:
            return at
    raise AssertionError("a time of day recurs within three days")
