"""Deterministic identity resolution: which profile an event's identifiers belong to.

Identifiers are taken in priority order. One that meets no profile joins the
result; one that meets a profile brings that whole profile in; anything that
would push the result past a type's limit (or the tenant's total) is dropped
from the event with the reason. The profiles brought in merge into the oldest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.identity.domain.events import IdentifierLink
from services.identity.domain.identifiers import Identifier
from services.identity.domain.profile import Profile
from services.identity.domain.rules import IdentifierRules
from services.kernel.errors import ConcurrencyError

MAX_IDENTIFIERS = "max_identifiers"


@dataclass(frozen=True)
class Plan:
    """What one event does to the graph; `survivor` None means a new profile."""

    survivor: str | None
    absorbed: tuple[str, ...]  # oldest first
    to_link: tuple[Identifier, ...]
    dropped: tuple[tuple[Identifier, str], ...]  # (identifier, reason)

    @property
    def flagged(self) -> bool:
        return any(reason == MAX_IDENTIFIERS for _, reason in self.dropped)


def _age(profile: Profile) -> tuple[datetime | None, str]:
    return (profile.create_time, profile.profile_id)


def _breach(
    before: Iterable[IdentifierLink],
    after: Iterable[IdentifierLink],
    at: datetime,
    rules: IdentifierRules,
) -> str | None:
    """The reason `after` breaks a rule that `before` kept (a limit already passed is no reason
    to refuse what does not add to it), or None."""
    before, after = list(before), list(after)
    if len(after) > rules.max_identifiers and len(after) > len(before):
        return MAX_IDENTIFIERS

    def counts(links: list[IdentifierLink]) -> Counter[str]:
        counted: Counter[str] = Counter()
        for link in links:
            window = rules.rule(link.identifier.type).window
            if window is None or link.link_time is None or link.link_time > at - window:
                counted[link.identifier.type] += 1
        return counted

    old, new = counts(before), counts(after)
    for type_name in sorted(new):
        if new[type_name] > rules.rule(type_name).limit and new[type_name] > old[type_name]:
            return f"limit:{type_name}"
    return None


def plan(
    identifiers: Sequence[Identifier],
    at: datetime,
    owners: Mapping[Identifier, str],
    profiles: Mapping[str, Profile],
    rules: IdentifierRules,
) -> Plan:
    """The plan for an event's identifiers given who owns them (`profiles`: every owner)."""
    ordered = sorted(set(identifiers), key=lambda i: (-rules.rule(i.type).priority, i))
    accepted: list[str] = []
    union: list[IdentifierLink] = []
    new: list[Identifier] = []
    dropped: list[tuple[Identifier, str]] = []
    for identifier in ordered:
        owner = owners.get(identifier)
        if owner in accepted:
            continue
        if owner is None:
            candidate = [*union, IdentifierLink(identifier, "", at)]
        else:
            candidate = [*union, *profiles[owner].links.values()]
        reason = _breach(union, candidate, at, rules) if union or owner is None else None
        if reason is not None:
            dropped.append((identifier, reason))
            continue
        union = candidate
        if owner is None:
            new.append(identifier)
        else:
            accepted.append(owner)
    by_age = sorted(accepted, key=lambda p: _age(profiles[p]))
    return Plan(
        survivor=by_age[0] if by_age else None,
        absorbed=tuple(by_age[1:]),
        to_link=tuple(new),
        dropped=tuple(dropped),
    )


@dataclass(frozen=True)
class Resolved:
    """The event's profile after it, and every profile the event changed (to save)."""

    profile: Profile
    changed: tuple[Profile, ...]
    plan: Plan


def resolve(
    identifiers: Sequence[Identifier],
    at: datetime,
    message_id: str,
    tenant_id: str,
    rules: IdentifierRules,
    owners: Callable[[Sequence[Identifier]], Mapping[Identifier, str]],
    load: Callable[[str], Profile],
    new_id: Callable[[], str],
) -> Resolved:
    """Applies the plan: creates or loads the survivor, merges, records drops and flags. The
    new identifiers (`plan.to_link`) are linked by the survivor taking the event with the
    identifiers it kept (`Profile.take`), which records them on it.

    The same function serves the database (repository ports) and the in-memory graph.
    ConcurrencyError when a racing writer changed the graph (retry the whole event).
    """
    owned = owners(identifiers)
    profiles = {p: load(p) for p in sorted(set(owned.values()))}
    if gone := sorted(p for p, profile in profiles.items() if profile.merged_into is not None):
        # another writer merged it after the owners were read: retried, the owners are fresh
        raise ConcurrencyError(f"profiles {gone} were merged meanwhile")
    decided = plan(identifiers, at, owned, profiles, rules)
    if decided.survivor is None:
        survivor = Profile.create(tenant_id, new_id(), at)
    else:
        survivor = profiles[decided.survivor]
    merged = [profiles[p] for p in decided.absorbed]
    for other in merged:
        survivor.absorb(other, at, message_id)
        other.merge_into(survivor.profile_id, at, message_id)
    for reason in sorted({r for _, r in decided.dropped}):
        survivor.drop((i for i, r in decided.dropped if r == reason), reason, message_id)
    if decided.flagged:
        survivor.flag(MAX_IDENTIFIERS, at, message_id)
    return Resolved(survivor, (survivor, *merged), decided)
