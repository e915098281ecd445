"""Keeps `profiles`, `profile_identifiers` and `forgotten_identifiers` in step with the
profile streams; personal trait values only sealed (store/sealed_traits.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, tuple_
from sqlalchemy.orm import Session

from layercake.identity.v1 import profile_events_pb2 as pe
from services.identity import mapping
from services.identity.domain.events import (
    ConsentChanged,
    EventReceived,
    IdentifiersLinked,
    ProfileAbsorbed,
    ProfileCreated,
    ProfileForgotten,
    ProfileMergedInto,
    ProfileSplit,
    StateRederived,
    TraitsSet,
    TraitValue,
)
from services.identity.domain.personal_data import Sealer
from services.identity.ports import PersonalDataVault
from services.identity.store.profile_rows import ProfileRows, Row
from services.identity.store.sealed_traits import stored
from services.identity.store.tables import (
    forgotten_identifiers,
    profile_identifiers,
    profile_trait_index,
    profiles,
)
from services.kernel.store.conflicts import insert_unless_conflict
from services.kernel.store.records import StoredEvent

PREFIX = "profile-"
CREATED = pe.ProfileCreated.DESCRIPTOR.full_name


class ProfileProjection:
    """Reads the keys from `vault` (identity's key store), whose ciphers remember what they
    sealed, so projecting an event just appended decrypts nothing. A flush's events are
    folded per row (store/profile_rows.py): each row read and written once."""

    name = "profiles"

    def __init__(self, vault: PersonalDataVault) -> None:
        self.vault = vault

    def apply(self, session: Session, events: Sequence[StoredEvent]) -> None:
        mine = [e for e in events if e.stream_id.startswith(PREFIX)]
        if not mine:
            return
        rows = ProfileRows(session)
        keys = {(e.metadata.tenant_id, e.stream_id[len(PREFIX) :]) for e in mine}
        new = {
            (e.metadata.tenant_id, e.stream_id[len(PREFIX) :])
            for e in mine
            if e.version == 1 and e.type == CREATED
        }
        rows.read(keys - new)
        for event in mine:
            self._apply(rows, event)
        rows.write()

    def _apply(self, rows: ProfileRows, event: StoredEvent) -> None:
        tenant, profile_id = event.metadata.tenant_id, event.stream_id[len(PREFIX) :]
        key = (tenant, profile_id)
        cipher = self.vault.cipher(tenant, profile_id)
        match mapping.EVENTS.decode(event, cipher):
            case EventReceived(message_id=message_id, event_time=at, linked=linked) as taken:
                if (row := rows.touch(key, event.version)) is not None:
                    if linked:
                        rows.link(key, linked, message_id, at)
                    if taken.traits_set:
                        self._set_traits(row, taken.won_traits, cipher)
            case ProfileCreated(create_time=at):
                rows.create(key, event.version, at)
            case IdentifiersLinked(identifiers, message_id, link_time):
                if rows.touch(key, event.version) is not None:
                    rows.link(key, identifiers, message_id, link_time)
            case ProfileAbsorbed(absorbed_id, _, consent):
                if (row := rows.touch(key, event.version)) is not None:
                    rows.absorb(tenant, absorbed_id, profile_id)
                    row.consent |= consent
            case ProfileMergedInto(survivor_id):
                if (row := rows.touch(key, event.version)) is not None:
                    row.merged_into = survivor_id
            case ProfileSplit(identifiers):
                rows.write()  # the identifiers leave after everything before them landed
                ids = profile_identifiers.c
                rows.session.execute(
                    delete(profile_identifiers).where(
                        ids.tenant_id == tenant,
                        ids.profile_id == profile_id,
                        tuple_(ids.id_type, ids.id_value).in_(
                            [(i.type, i.value) for i in identifiers]
                        ),
                    )
                )
                rows.touch(key, event.version)
            case StateRederived(traits, consent):
                if (row := rows.touch(key, event.version)) is not None:
                    row.traits = stored(traits, cipher)
                    row.consent = dict(consent)
            case TraitsSet(traits):
                if (row := rows.touch(key, event.version)) is not None:
                    self._set_traits(row, traits, cipher)
            case ConsentChanged(consent):
                if (row := rows.touch(key, event.version)) is not None:
                    row.consent |= consent
            case ProfileForgotten(aliases, digests, at):
                gone = (profile_id, *aliases)
                for p in gone:  # out of the trait index (seeks by value) before the rows go
                    if (row := rows.touch((tenant, p), event.version)) is not None:
                        row.traits = {}
                rows.write()
                self._forget(rows.session, tenant, gone, digests, at or event.recorded_time)
                rows.drop({(tenant, p) for p in gone})
            case _:  # trait values of a forgotten person: nothing left to project
                rows.touch(key, event.version)

    @staticmethod
    def _set_traits(row: Row, traits: Mapping[str, TraitValue], cipher: Sealer | None) -> None:
        if traits:  # none once the key is gone: a forgotten person's values went with it
            row.traits |= stored(traits, cipher)
            row.update_time = max(row.update_time, *(v.set_time for v in traits.values()))

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

    def clear(self, session: Session) -> None:
        session.execute(delete(forgotten_identifiers))
        session.execute(delete(profile_trait_index))
        session.execute(delete(profile_identifiers))
        session.execute(delete(profiles))
