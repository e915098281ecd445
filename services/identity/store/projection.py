"""Keeps `profiles` and `profile_identifiers` in step with the profile streams."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from services.identity import mapping
from services.identity.domain.events import (
    ConsentChanged,
    IdentifiersLinked,
    ProfileCreated,
    TraitsSet,
)
from services.identity.store.tables import profile_identifiers, profiles
from services.identity.store.vault import PersonalDataVault
from services.kernel.store.records import StoredEvent

PREFIX = "profile-"


class ProfileProjection:
    name = "profiles"

    def apply(self, session: Session, event: StoredEvent) -> None:
        if not event.stream_id.startswith(PREFIX):
            return
        tenant, profile_id = event.metadata.tenant_id, event.stream_id[len(PREFIX) :]
        key = (profiles.c.tenant_id == tenant) & (profiles.c.profile_id == profile_id)
        cipher = PersonalDataVault(session).cipher(tenant, profile_id)
        match mapping.EVENTS.decode(event, cipher):
            case ProfileCreated(create_time=at):
                session.execute(
                    insert(profiles).values(
                        tenant_id=tenant,
                        profile_id=profile_id,
                        version=event.version,
                        traits="{}",
                        consent="{}",
                        create_time=at,
                        update_time=at,
                    )
                )
                return
            case IdentifiersLinked(identifiers):
                session.execute(
                    insert(profile_identifiers),
                    [
                        {
                            "tenant_id": tenant,
                            "id_type": i.type,
                            "id_value": i.value,
                            "hashed": i.hashed,
                            "profile_id": profile_id,
                        }
                        for i in identifiers
                    ],
                )
                changes: dict[str, Any] = {}
            case TraitsSet(traits) if traits:
                current = json.loads(self._column(session, key, profiles.c.traits))
                current |= {
                    k: {"v": v.json_value, "t": v.set_time.isoformat()} for k, v in traits.items()
                }
                latest = max(v.set_time for v in traits.values())
                changes = {"traits": json.dumps(current, sort_keys=True)}
                updated: datetime = self._column(session, key, profiles.c.update_time)
                changes["update_time"] = max(updated, latest)
            case ConsentChanged(consent):
                current = json.loads(self._column(session, key, profiles.c.consent))
                changes = {"consent": json.dumps(current | consent, sort_keys=True)}
            case _:  # trait values of a forgotten person: nothing left to project
                changes = {}
        session.execute(update(profiles).where(key).values(version=event.version, **changes))

    @staticmethod
    def _column(session: Session, key: Any, column: Any) -> Any:
        return session.execute(select(column).where(key)).scalar_one()

    def clear(self, session: Session) -> None:
        session.execute(delete(profile_identifiers))
        session.execute(delete(profiles))
