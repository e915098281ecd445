"""Deterministic identity resolution: which profile do these identifiers belong to.

Identifiers that meet one profile join it. When they meet several, the profile
holding the highest-priority identifier wins and identifiers owned by the
others are dropped from the event (merging profiles is a later step; the
result names the profiles that would merge so callers can log them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.identity.domain.identifiers import Identifier, identifier_type


@dataclass(frozen=True)
class Resolution:
    profile_id: str | None  # None: no identifier is known, create a profile
    to_link: tuple[Identifier, ...]
    dropped: tuple[Identifier, ...]
    other_profiles: tuple[str, ...]


def resolve(identifiers: Sequence[Identifier], owners: Mapping[Identifier, str]) -> Resolution:
    known = [i for i in identifiers if i in owners]
    unknown = tuple(i for i in identifiers if i not in owners)
    if not known:
        return Resolution(None, unknown, (), ())
    best = max(known, key=lambda i: (identifier_type(i.type).priority, i))
    survivor = owners[best]
    dropped = tuple(i for i in known if owners[i] != survivor)
    others = tuple(sorted({owners[i] for i in dropped}))
    return Resolution(survivor, unknown, dropped, others)
