"""Frequency caps as people write them (`email=3/1d,*=5/7d`): one grammar for the
orchestrator's settings and the CLI."""

from __future__ import annotations

import re
from datetime import timedelta

from services.kernel.durations import parse_duration

_CAP = re.compile(r"^([a-z*]+)=(\d+)/(\w+)$")


def parse_cap_text(text: str) -> tuple[tuple[str, int, timedelta], ...]:
    """`email=3/24h,*=5/7d` -> (channel, limit, window) each; ValueError naming the bad part."""
    caps = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = _CAP.match(part)
        window = parse_duration(m[3]) if m else None
        if m is None or window is None or int(m[2]) < 1:
            raise ValueError(f"frequency cap {part!r} is not <channel|*>=<n>/<duration>")
        caps.append((m[1], int(m[2]), window))
    return tuple(caps)
