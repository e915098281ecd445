"""An in-memory identity graph driven by the domain's own `resolve`: the unit tests' store."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.identity.domain.events import EventReceived
from services.identity.domain.identifiers import Identifier, normalise
from services.identity.domain.profile import Profile
from services.identity.domain.resolution import Resolved, resolve
from services.identity.domain.rules import DEFAULT_RULES, IdentifierRules
from services.identity.domain.unmerge import received, unmerge


def keyed(value: str) -> str:
    return hmac.new(b"tenant-key", value.encode(), hashlib.sha256).hexdigest()


@dataclass
class Graph:
    rules: IdentifierRules = DEFAULT_RULES
    profiles: dict[str, Profile] = field(default_factory=dict)
    owners: dict[Identifier, str] = field(default_factory=dict)
    log: dict[str, list[object]] = field(default_factory=dict)  # stream per profile
    counter: int = 0

    def ingest(
        self,
        message_id: str,
        at: datetime,
        identifiers: Sequence[tuple[str, str]],
        traits: Mapping[str, str] | None = None,
        consent: Mapping[str, bool] | None = None,
    ) -> Resolved:
        found = (normalise(t, v, self.rules, keyed) for t, v in identifiers)
        ids = tuple(dict.fromkeys(i for i in found if i is not None))
        resolved = resolve(
            ids,
            at,
            message_id,
            "acme",
            self.rules,
            owners=lambda xs: {i: self.owners[i] for i in xs if i in self.owners},
            load=lambda p: self.profiles[p],
            new_id=self._new_id,
        )
        dropped = {i for i, _ in resolved.plan.dropped}
        kept = tuple(i for i in ids if i not in dropped)
        resolved.profile.take(
            EventReceived(message_id, at, kept, dict(traits or {}), dict(consent or {}))
        )
        self._save(*resolved.changed)
        return resolved

    def unmerge(self, at: datetime, identifiers: Sequence[tuple[str, str]]) -> Profile:
        """Splits the identifiers off their profile as an admin would; returns the new one."""
        moved = {i for i in (normalise(t, v, self.rules, keyed) for t, v in identifiers) if i}
        profile = self.profiles[self.owners[next(iter(moved))]]
        events = received(profile.profile_id, lambda p: self.log.get(p, []))  # type: ignore[arg-type, return-value]
        split_off = unmerge(profile, moved, events, self._new_id(), "r1", at)
        self._save(profile, split_off)
        return split_off

    def _save(self, *changed: Profile) -> None:
        for profile in changed:
            self.log.setdefault(profile.profile_id, []).extend(profile.pending)
            profile.saved()
            self.profiles[profile.profile_id] = profile
            for i in profile.identifiers:
                if profile.merged_into is None:
                    self.owners[i] = profile.profile_id

    def _new_id(self) -> str:
        self.counter += 1
        return f"p{self.counter}"

    def live(self) -> list[Profile]:
        return [p for p in self.profiles.values() if p.merged_into is None]

    def partition(self) -> set[frozenset[str]]:
        """The graph as sets of identifier keys per live profile, whatever the profile ids."""
        return {frozenset(i.key for i in p.identifiers) for p in self.live()}

    def lookup(self, type_name: str, raw: str) -> Profile | None:
        ident = normalise(type_name, raw, self.rules, keyed)
        owner = self.owners.get(ident) if ident else None
        return None if owner is None else self.profiles[owner]

    def by_id(self, profile_id: str) -> Profile:
        profile = self.profiles[profile_id]
        while profile.merged_into is not None:
            profile = self.profiles[profile.merged_into]
        return profile

    def replayed(self) -> dict[str, Profile]:
        return {p: Profile.replay(events, len(events)) for p, events in self.log.items()}  # type: ignore[arg-type]
