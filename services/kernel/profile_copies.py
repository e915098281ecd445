"""The port of a service's copies of identity's profiles (contact states, features).

A copy is merged from each change identity publishes, under the service's own rule
(the domain's `..._after(held, change, now)`); the SQLAlchemy adapter
(`store.versioned.SqlProfileCopies`) and the in-memory one (`store.memory`) keep it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

from services.kernel.profile_changes import ProfileForget, ProfilesMerge

T = TypeVar("T")


class ProfileCopies(ABC, Generic[T]):
    """One copy per tenant and profile."""

    @abstractmethod
    def get(self, tenant_id: str, profile_id: str) -> T | None: ...

    @abstractmethod
    def merge(self, tenant_id: str, profile_id: str, merge: Callable[[T | None], T | None]) -> bool:
        """Stores `merge(held copy or None)`, unless it is None (a repeat, or older than what
        is held); True when it wrote. An empty tenant or profile id is a ValueError."""

    @abstractmethod
    def pop(self, tenant_id: str, profile_id: str) -> T | None:
        """Removes the copy and returns it (None when there is none), atomically: of two
        writers popping one copy, one gets it."""


def fold_merged(
    copies: ProfileCopies[T], merge: ProfilesMerge, fold: Callable[[T | None, T], T | None]
) -> bool:
    """Folds each merged-away copy into the survivor's (`fold(survivor or None, merged)`,
    under the service's rule), then drops it: a redelivered merge finds none, a no-op.
    True when it changed anything."""

    def into_survivor(merged: T) -> Callable[[T | None], T | None]:
        return lambda held: fold(held, merged)

    changed = False
    for merged_id in merge.merged_profile_ids:
        if merged_id == merge.survivor_profile_id:
            continue
        merged = copies.pop(merge.tenant_id, merged_id)
        if merged is None:
            continue
        copies.merge(merge.tenant_id, merge.survivor_profile_id, into_survivor(merged))
        changed = True
    return changed


def drop_forgotten(copies: ProfileCopies[T], forget: ProfileForget) -> bool:
    """Deletes the copies of a forgotten profile and its aliases; True when any was held."""
    dropped = [copies.pop(forget.tenant_id, p) for p in forget.profile_ids]
    return any(d is not None for d in dropped)
