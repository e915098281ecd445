"""Keeps `profiles`, `profile_identifiers` and `forgotten_identifiers` in step with the
profile streams; personal trait values only sealed (store/sealed_traits.py)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.identity import mapping
from services.identity.domain.events import (
    ConsentChanged,
    IdentifiersLinked,
    ProfileAbsorbed,
    ProfileCreated,
    ProfileForgotten,
    ProfileMergedInto,
    TraitsSet,
)
from services.identity.domain.identifiers import Identifier
from services.identity.ports import PersonalDataVault
from services.identity.store.sealed_traits import stored
from services.identity.store.tables import forgotten_identifiers, profile_identifiers, profiles
from services.kernel.errors import ConcurrencyError
from services.kernel.store.conflicts import insert_unless_conflict
from services.kernel.store.records import StoredEvent

PREFIX = "profile-"


class ProfileProjection:
    """Reads the keys from `vault` (identity's key store), whose ciphers remember what they
    sealed, so projecting an event just appended decrypts nothing."""

    name = "profiles"

    def __init__(self, vault: PersonalDataVault) -> None:
        self.vault = vault

    def apply(self, session: Session, event: StoredEvent) -> None:
        if not event.stream_id.startswith(PREFIX):
            return
        tenant, profile_id = event.metadata.tenant_id, event.stream_id[len(PREFIX) :]
        key = (profiles.c.tenant_id == tenant) & (profiles.c.profile_id == profile_id)
        cipher = self.vault.cipher(tenant, profile_id)
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
            case IdentifiersLinked(identifiers, message_id, link_time):
                self._link(session, tenant, profile_id, identifiers, message_id, link_time)
                changes: dict[str, Any] = {}
            case ProfileAbsorbed(absorbed_id, _, consent):
                ids = profile_identifiers.c
                session.execute(
                    update(profile_identifiers)
                    .where(ids.tenant_id == tenant, ids.profile_id == absorbed_id)
                    .values(profile_id=profile_id)
                )
                session.execute(  # aliases of the absorbed profile now alias the survivor
                    update(profiles)
                    .where(profiles.c.tenant_id == tenant, profiles.c.merged_into == absorbed_id)
                    .values(merged_into=profile_id)
                )
                current = json.loads(self._column(session, key, profiles.c.consent))
                changes = {"consent": json.dumps(current | consent, sort_keys=True)}
            case ProfileMergedInto(survivor_id):
                changes = {"merged_into": survivor_id}
            case TraitsSet(traits) if traits:
                current = json.loads(self._column(session, key, profiles.c.traits))
                current |= stored(traits, cipher)
                latest = max(v.set_time for v in traits.values())
                changes = {"traits": json.dumps(current, sort_keys=True)}
                updated: datetime = self._column(session, key, profiles.c.update_time)
                changes["update_time"] = max(updated, latest)
            case ConsentChanged(consent):
                current = json.loads(self._column(session, key, profiles.c.consent))
                changes = {"consent": json.dumps(current | consent, sort_keys=True)}
            case ProfileForgotten(aliases, digests, at):
                self._forget(
                    session, tenant, (profile_id, *aliases), digests, at or event.recorded_time
                )
                return
            case _:  # trait values of a forgotten person: nothing left to project
                changes = {}
        session.execute(update(profiles).where(key).values(version=event.version, **changes))

    @staticmethod
    def _link(
        session: Session,
        tenant: str,
        profile_id: str,
        identifiers: tuple[Identifier, ...],
        message_id: str,
        link_time: datetime | None,
    ) -> None:
        """One row per identifier; a racing writer's row for the same one is a lost race,
        retried (the transaction is rolled back whole, so no savepoint)."""
        try:
            session.execute(
                insert(profile_identifiers),
                [
                    {
                        "tenant_id": tenant,
                        "id_type": i.type,
                        "id_value": i.value,
                        "hashed": i.hashed,
                        "profile_id": profile_id,
                        "message_id": message_id or None,
                        "link_time": link_time,
                    }
                    for i in identifiers
                ],
            )
        except IntegrityError as e:
            raise ConcurrencyError(
                f"an identifier of profile {profile_id} was linked concurrently"
            ) from e

    @staticmethod
    def _forget(
        session: Session,
        tenant: str,
        profile_ids: tuple[str, ...],
        digests: tuple[str, ...],
        at: datetime,
    ) -> None:
        """Nothing of the person stays but the digests that suppress them."""
        ids = profile_identifiers.c
        session.execute(
            delete(profile_identifiers).where(
                ids.tenant_id == tenant, ids.profile_id.in_(profile_ids)
            )
        )
        session.execute(
            delete(profiles).where(
                profiles.c.tenant_id == tenant, profiles.c.profile_id.in_(profile_ids)
            )
        )
        if digests:
            dialect = session.get_bind().dialect.name
            rows = [
                {"tenant_id": tenant, "digest": d, "profile_id": profile_ids[0], "forget_time": at}
                for d in digests
            ]
            session.execute(insert_unless_conflict(forgotten_identifiers, dialect), rows)

    @staticmethod
    def _column(session: Session, key: Any, column: Any) -> Any:
        return session.execute(select(column).where(key)).scalar_one()

    def clear(self, session: Session) -> None:
        session.execute(delete(forgotten_identifiers))
        session.execute(delete(profile_identifiers))
        session.execute(delete(profiles))
