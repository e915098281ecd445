"""Keeps `profiles`, `profile_identifiers` and `forgotten_identifiers` in step with the
profile streams; personal trait values only sealed (store/sealed_traits.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from layercake.identity.v1 import profile_events_pb2 as pe
from services.identity import mapping
from services.identity.domain.events import (
    ConsentChanged,
    IdentifiersLinked,
    ProfileAbsorbed,
    ProfileCreated,
    ProfileForgotten,
    ProfileMergedInto,
    ProfileSplit,
    StateRederived,
    TraitsSet,
)
from services.identity.domain.identifiers import Identifier
from services.identity.ports import PersonalDataVault
from services.identity.store.sealed_traits import stored
from services.identity.store.tables import (
    forgotten_identifiers,
    profile_identifiers,
    profile_trait_index,
    profiles,
)
from services.identity.store.trait_index import reindex
from services.kernel.errors import ConcurrencyError
from services.kernel.store.conflicts import insert_unless_conflict
from services.kernel.store.records import StoredEvent

PREFIX = "profile-"
# Events that change nothing the read model holds (their trait values stay sealed).
VERSION_ONLY = frozenset({pe.EventReceived.DESCRIPTOR.full_name})


def _values(rows: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The values kept in clear (personal ones are sealed, and never indexed)."""
    return {k: v["v"] for k, v in rows.items() if "v" in v}


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
        if event.type in VERSION_ONLY:  # nothing to project: not even worth opening
            session.execute(update(profiles).where(key).values(version=event.version))
            return
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
                current = json.loads(self._column(session, key, profiles.c.traits))
                reindex(session, tenant, profile_id, _values(current), {})
                changes = {"merged_into": survivor_id}
            case ProfileSplit(identifiers):
                ids = profile_identifiers.c
                session.execute(
                    delete(profile_identifiers).where(
                        ids.tenant_id == tenant,
                        ids.profile_id == profile_id,
                        tuple_(ids.id_type, ids.id_value).in_(
                            [(i.type, i.value) for i in identifiers]
                        ),
                    )
                )
                changes = {}
            case StateRederived(traits, consent):
                before = json.loads(self._column(session, key, profiles.c.traits))
                after = stored(traits, cipher)
                reindex(session, tenant, profile_id, _values(before), _values(after))
                changes = {
                    "traits": json.dumps(after, sort_keys=True),
                    "consent": json.dumps(consent, sort_keys=True),
                }
            case TraitsSet(traits) if traits:
                current = json.loads(self._column(session, key, profiles.c.traits))
                before = _values(current)
                current |= stored(traits, cipher)
                reindex(session, tenant, profile_id, before, _values(current))
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
        session.execute(delete(profile_trait_index))
        session.execute(delete(profile_identifiers))
        session.execute(delete(profiles))
