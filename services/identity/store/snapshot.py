"""A profile's snapshot: its whole state as JSON, sealed with the profile's own key.

Trait values are personal data, so a snapshot is as sealed as the events it
stands for: forgetting the person (deleting the key) makes it unreadable too,
and loading then falls back to a replay, which yields no trait values.
"""

from __future__ import annotations

import json
from datetime import datetime

from services.identity.domain.events import IdentifierLink, TraitValue
from services.identity.domain.identifiers import Identifier
from services.identity.domain.personal_data import Sealer
from services.identity.domain.profile import Profile


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


class ProfileState:
    """The `StateCodec` of `Profile`; bump `version` whenever the JSON below changes."""

    type = "identity.Profile"
    # 2: links with provenance, merged_into, aliases, flagged; 3: computed, audiences;
    # 4: consent sources
    version = 4

    def dump(self, profile: Profile, sealer: Sealer | None) -> bytes:
        if sealer is None:
            raise ValueError(f"profile {profile.profile_id} has no key: no snapshot of it")
        state = {
            "tenant_id": profile.tenant_id,
            "profile_id": profile.profile_id,
            "create_time": _time(profile.create_time),
            "update_time": _time(profile.update_time),
            "links": sorted(
                [i.type, i.value, i.hashed, link.message_id, _time(link.link_time)]
                for i, link in profile.links.items()
            ),
            "merged_into": profile.merged_into,
            "aliases": list(profile.aliases),
            "flagged": profile.flagged,
            "traits": {k: [t.json_value, _time(t.set_time)] for k, t in profile.traits.items()},
            "consent": profile.consent,
            "consent_time": {k: v.isoformat() for k, v in profile.consent_time.items()},
            "consent_source": profile.consent_source,
            "computed": {k: [t.json_value, _time(t.set_time)] for k, t in profile.computed.items()},
            "audiences": profile.audiences,
        }
        return sealer.seal(json.dumps(state, sort_keys=True))

    def load(self, state: bytes, version: int, sealer: Sealer | None) -> Profile | None:
        if sealer is None:
            return None
        s = json.loads(sealer.open(state))
        return Profile(
            version=version,
            tenant_id=s["tenant_id"],
            profile_id=s["profile_id"],
            create_time=_parse(s["create_time"]),
            update_time=_parse(s["update_time"]),
            links={
                (i := Identifier(t, v, h)): IdentifierLink(i, m, _parse(at))
                for t, v, h, m, at in s["links"]
            },
            merged_into=s["merged_into"],
            aliases=tuple(s["aliases"]),
            flagged=s["flagged"],
            traits={
                k: TraitValue(value, datetime.fromisoformat(at))
                for k, (value, at) in s["traits"].items()
            },
            consent=s["consent"],
            consent_time={k: datetime.fromisoformat(v) for k, v in s["consent_time"].items()},
            consent_source=s["consent_source"],
            computed={
                k: TraitValue(value, datetime.fromisoformat(at))
                for k, (value, at) in s["computed"].items()
            },
            audiences=s["audiences"],
        )


PROFILE_STATE = ProfileState()
