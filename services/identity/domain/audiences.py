"""Audiences: CEL rules over a profile's traits, computed traits and consent.

A live audience is its published version's compiled rule; a profile is a member while
the rule holds. Membership changes are the profile's own events (`AudienceEntered`,
`AudienceExited`), recorded when the profile changes or a window expires. Pure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.identity.domain.computed_traits import ZERO_WHEN_EMPTY, ComputedTraitDefinition
from services.identity.domain.profile import Profile
from services.kernel.rules import Rule
from services.kernel.vocabulary import CONSENT_PURPOSES


@dataclass(frozen=True)
class AudienceDefinition:
    """A published audience version: who is in it is whoever `rule` holds for."""

    audience_id: str
    version: int
    rule: Rule


def profile_facts(
    profile: Profile, traits: tuple[ComputedTraitDefinition, ...] = ()
) -> dict[str, Any]:
    """The profile as CEL's `profile` sees it. A live computed trait the profile has no
    value of yet reads as its empty window's value (0 for count, sum and distinct)."""
    computed: dict[str, Any] = {
        d.name: 0
        for d in traits
        if d.aggregation in ZERO_WHEN_EMPTY and d.name not in profile.computed
    }
    computed |= {k: json.loads(v.json_value) for k, v in profile.computed.items()}
    identifiers: dict[str, list[str]] = {}
    for i in sorted(profile.identifiers):
        identifiers.setdefault(i.type, []).append(i.value)
    timezone = profile.traits.get("timezone")
    zone = json.loads(timezone.json_value) if timezone is not None else ""
    return {
        "profile": {
            "id": profile.profile_id,
            "traits": {k: json.loads(v.json_value) for k, v in profile.traits.items()},
            "computed": computed,
            # no decision is no consent
            "consent": dict.fromkeys(sorted(CONSENT_PURPOSES), False) | dict(profile.consent),
            "audiences": sorted(profile.audiences),
            "identifiers": identifiers,
            "timezone": zone if isinstance(zone, str) else "",
        }
    }


def evaluate_audiences(
    profile: Profile,
    audiences: tuple[AudienceDefinition, ...],
    traits: tuple[ComputedTraitDefinition, ...],
    at: datetime,
) -> None:
    """Records the profile entering each live audience whose rule now holds and leaving each
    whose rule no longer does. A rule that cannot be evaluated (a missing trait) does not hold."""
    if profile.merged_into is not None or not audiences:
        return
    facts = profile_facts(profile, traits)
    for audience in audiences:
        if audience.rule.evaluate(facts).holds:
            profile.enter(audience.audience_id, audience.version, at)
        else:
            profile.exit(audience.audience_id, audience.version, at)
