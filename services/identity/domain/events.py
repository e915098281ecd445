"""What happens to a profile, in the past tense; immutable, with aware UTC times."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.identity.domain.identifiers import Identifier


@dataclass(frozen=True)
class TraitValue:
    """A trait's JSON-encoded value and the event time it was set at."""

    json_value: str
    set_time: datetime


@dataclass(frozen=True)
class ProfileCreated:
    tenant_id: str
    profile_id: str
    create_time: datetime


@dataclass(frozen=True)
class IdentifiersLinked:
    identifiers: tuple[Identifier, ...]


@dataclass(frozen=True)
class TraitsSet:
    traits: dict[str, TraitValue] = field(hash=False)
    message_id: str = ""


@dataclass(frozen=True)
class ConsentChanged:
    consent: dict[str, bool] = field(hash=False)
    change_time: datetime | None = None


ProfileEvent = ProfileCreated | IdentifiersLinked | TraitsSet | ConsentChanged
