"""Durations as marketers write them (`30m`, `4h`, `2d`, `1h30m`) and local times (`09:00`)."""

from __future__ import annotations

import re
from datetime import timedelta

from services.kernel.durations import parse_duration

_LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_WAIT = timedelta(days=366)

__all__ = ["MAX_WAIT", "is_local_time", "parse_duration"]


def is_local_time(text: str) -> bool:
    """`HH:MM` on a 24-hour clock, e.g. `09:00`."""
    return bool(_LOCAL_TIME.match(text))
