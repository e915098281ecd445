"""Durations as people write them in assets (`30m`, `4h`, `30d`, `1h30m`): one parser."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"^(?:\d+[smhdw])+$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta | None:
    """`4h` -> 4 hours; None when `text` is not a sum of `<n><s|m|h|d|w>` parts."""
    if not _WHOLE.match(text):
        return None
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _PART.findall(text)))
