"""Forgetting a person (GDPR erasure) and refusing them afterwards: the pure rules.

A forgotten person's identifiers are remembered only as keyed digests (the tenant's
hash key over `<type>:<value>`), so the suppression list holds nothing a dictionary of
emails or user ids could reverse, yet a later event carrying one is recognised.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.identity.domain.errors import IdentityError
from services.identity.domain.identifiers import Hasher, Identifier

FORGOTTEN = "forgotten"  # the reason recorded for a suppressed message


def suppression_digests(identifiers: Iterable[Identifier], hasher: Hasher) -> tuple[str, ...]:
    """The digests a forgotten person's identifiers are suppressed under, sorted."""
    return tuple(sorted({hasher(i.key) for i in identifiers}))


@dataclass(frozen=True)
class Forgotten:
    """What a forget erased: the profile and those merged into it, and when."""

    profile_id: str
    alias_profile_ids: tuple[str, ...]
    forget_time: datetime

    @property
    def profile_ids(self) -> tuple[str, ...]:
        return (self.profile_id, *self.alias_profile_ids)


class Suppressed(IdentityError):
    """A message carries a forgotten person's identifier (or meets their erased profile):
    it is recorded and dropped, never resolved, retried or dead-lettered."""

    reason = "SUPPRESSED"
