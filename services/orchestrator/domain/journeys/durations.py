"""Durations as marketers write them (`30m`, `4h`, `2d`, `1h30m`) and local times (`09:00`)."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"^(?:\d+[smhdw])+$")
_LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_WAIT = timedelta(days=366)


def parse_duration(text: str) -> timedelta | None:
    """`4h` -> 4 hours; None when `text` is not a sum of `<n><s|m|h|d|w>` parts."""
    if not _WHOLE.match(text):
        return None
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _PART.findall(text)))


def is_local_time(text: str) -> bool:
    """`HH:MM` on a 24-hour clock, e.g. `09:00`."""
    return bool(_LOCAL_TIME.match(text))
