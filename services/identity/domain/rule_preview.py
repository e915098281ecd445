"""What a change of identifier rules would do to a tenant's graph, before it is published.

Both graphs come from replaying the same messages, under the published rules and under
the draft; a graph is its profiles, each the set of identifiers it holds. A merge
appears where one draft profile holds identifiers the published rules keep in several
profiles, and disappears the other way round.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.identity.domain.identifiers import Identifier

Group = frozenset[Identifier]


@dataclass(frozen=True)
class RulePreview:
    messages: int  # replayed
    merges_appearing: tuple[Group, ...]  # draft profiles joining several published ones
    merges_disappearing: tuple[Group, ...]  # published profiles the draft splits
    profiles_changed: int  # published profiles the draft would not keep as they are


def _joining(apart: set[Group], together: set[Group]) -> tuple[Group, ...]:
    """The groups of `together` holding identifiers that `apart` keeps in several groups."""
    owner = {i: g for g in apart for i in g}
    joined = [g for g in together if len({owner[i] for i in g if i in owner}) > 1]
    return tuple(sorted(joined, key=sorted))


def compare(published: Iterable[Group], draft: Iterable[Group], messages: int) -> RulePreview:
    now, then = set(published), set(draft)
    return RulePreview(messages, _joining(now, then), _joining(then, now), len(now - then))
