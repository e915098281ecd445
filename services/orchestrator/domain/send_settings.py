"""A tenant's own send settings (frequency caps, quiet hours) over the deployment's defaults.

Each part the tenant leaves unset follows the deployment (the process's environment); the
checks name each bad field as the API spells it. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.kernel.errors import Violations
from services.orchestrator.domain.channels import CHANNEL_PURPOSES
from services.orchestrator.domain.contact_state import known_time_zone
from services.orchestrator.domain.frequency_caps import ALL_CHANNELS, FrequencyCap
from services.orchestrator.domain.guards import QuietHours
from services.orchestrator.domain.journeys.durations import MAX_WAIT, is_local_time

MAX_CAPS = 20


@dataclass(frozen=True)
class QuietSetting:
    """Quiet hours (None: none at all) and the zone of people without one ('': the
    deployment's)."""

    hours: QuietHours | None
    default_time_zone: str = ""


@dataclass(frozen=True)
class SendSettings:
    """What a tenant set; None: that part follows the deployment."""

    caps: tuple[FrequencyCap, ...] | None = None
    quiet: QuietSetting | None = None


def check_cap(channel: str, limit: int, window: timedelta, path: str, bad: Violations) -> None:
    """Adds a violation per bad part of the cap at `path` (e.g. `frequency_caps.caps[0]`)."""
    if channel != ALL_CHANNELS and channel not in CHANNEL_PURPOSES:
        known = ", ".join(sorted(CHANNEL_PURPOSES))
        bad.add(f"{path}.channel", f"must be one of {known}, or * for all channels")
    if limit < 1:
        bad.add(f"{path}.limit", "must be at least 1")
    if not timedelta(0) < window <= MAX_WAIT:
        bad.add(f"{path}.window", f"must be more than 0s and at most {MAX_WAIT.days}d")


def check_caps(caps: tuple[FrequencyCap, ...], where: str, bad: Violations) -> None:
    """Each cap's parts, and no cap twice, at `where` (e.g. `settings.frequency_caps`)."""
    if len(caps) > MAX_CAPS:
        bad.add(f"{where}.caps", f"must hold at most {MAX_CAPS}")
    seen: set[tuple[str, timedelta]] = set()
    for i, cap in enumerate(caps):
        path = f"{where}.caps[{i}]"
        check_cap(cap.channel, cap.limit, cap.window, path, bad)
        if (cap.channel, cap.window) in seen:
            bad.add(path, f"repeats the cap on {cap.channel} per {cap.window}")
        seen.add((cap.channel, cap.window))


def quiet_setting(
    start: str, end: str, zone: str, where: str, bad: Violations
) -> QuietSetting | None:
    """The quiet hours from their parts, or None with a violation per bad part at `where`
    (e.g. `settings.quiet_hours`); no start and no end: no quiet hours."""
    ok = True
    for field, value in (("start", start), ("end", end)):
        if (start or end) and not is_local_time(value):
            bad.add(f"{where}.{field}", f"{value!r} is not HH:MM, e.g. 21:00")
            ok = False
    if ok and start and start == end:
        bad.add(f"{where}.end", "must differ from start")
        ok = False
    if zone and not known_time_zone(zone):
        bad.add(f"{where}.default_time_zone", "must be an IANA time zone, e.g. Europe/Paris")
        ok = False
    if not ok:
        return None
    hours = QuietHours.parse(f"{start}-{end}") if start else None
    return QuietSetting(hours, zone)
