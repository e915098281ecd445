"""The profile repository: aggregates from their streams, lookups from the read model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.identity import mapping
from services.identity.domain.events import IdentifierLink, ProfileCreated, TraitValue
from services.identity.domain.identifiers import Identifier
from services.identity.domain.profile import Profile, stream_id
from services.identity.store.snapshot import PROFILE_STATE
from services.identity.store.tables import profile_identifiers, profiles
from services.identity.store.vault import PersonalDataVault
from services.kernel.store.records import EventMetadata
from services.kernel.store.unit_of_work import UnitOfWork


class ProfileRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.vault = PersonalDataVault(uow.session)

    def owners(self, tenant_id: str, identifiers: Sequence[Identifier]) -> dict[Identifier, str]:
        """Who holds each identifier, read inside the transaction that will append.

        `tenant_id = ? AND id_type IN (...) AND id_value IN (...)` is a primary-key seek per
        (type, value) pair on SQLite and PostgreSQL, whatever the tenant holds (a row-value
        IN was planned as a scan of the tenant); pairs the product adds are filtered here.
        """
        if not identifiers:
            return {}
        by_key = {(i.type, i.value): i for i in identifiers}
        rows = self.uow.session.execute(owners_query(tenant_id, identifiers))
        return {
            by_key[(r.id_type, r.id_value)]: r.profile_id
            for r in rows
            if (r.id_type, r.id_value) in by_key
        }

    def get(self, tenant_id: str, profile_id: str) -> Profile:
        """The profile from its newest snapshot and the events after it."""
        stream = stream_id(profile_id)
        cipher = self.vault.cipher(tenant_id, profile_id)
        start = self.uow.snapshots.resume(stream, PROFILE_STATE, cipher)
        stored = self.uow.events.load(stream, after_version=start.version)
        if start.aggregate is None and not stored:
            raise LookupError(profile_id)
        events = (mapping.EVENTS.decode(e, cipher) for e in stored)
        return Profile.replay(
            events, stored[-1].version if stored else start.version, start.aggregate
        )

    def save(self, profile: Profile, metadata: EventMetadata) -> None:
        """Appends the pending events; a stale version raises ConcurrencyError."""
        if not profile.pending:
            return
        cipher = self.vault.cipher(profile.tenant_id, profile.profile_id)
        if cipher is None:
            if not isinstance(profile.pending[0], ProfileCreated):
                raise LookupError(f"profile {profile.profile_id} was forgotten")
            cipher = self.vault.create_key(profile.tenant_id, profile.profile_id, self.uow.now())
        new_events = [mapping.EVENTS.new_event(e, cipher) for e in profile.pending]
        before = profile.version
        self.uow.append(profile.stream_id, before, new_events, metadata)
        profile.saved()
        self.uow.snapshots.after_append(
            profile.stream_id,
            before,
            profile.version,
            profile,
            PROFILE_STATE,
            cipher,
            self.uow.now(),
        )


def owners_query(tenant_id: str, identifiers: Sequence[Identifier]) -> Select[Any]:
    """The owners lookup; tests read its plan with EXPLAIN."""
    c = profile_identifiers.c
    return select(c.id_type, c.id_value, c.profile_id).where(
        c.tenant_id == tenant_id,
        c.id_type.in_(sorted({i.type for i in identifiers})),
        c.id_value.in_(sorted({i.value for i in identifiers})),
    )


def find_profile(session: Session, tenant_id: str, ref: Identifier | str) -> Profile | None:
    """A profile from the read model, by identifier or by profile id."""
    profile_id: str | None = ref if isinstance(ref, str) else None
    if isinstance(ref, Identifier):
        profile_id = session.execute(
            select(profile_identifiers.c.profile_id).where(
                profile_identifiers.c.tenant_id == tenant_id,
                profile_identifiers.c.id_type == ref.type,
                profile_identifiers.c.id_value == ref.value,
            )
        ).scalar_one_or_none()
        if profile_id is None:
            return None
    row = session.execute(
        select(profiles).where(
            profiles.c.tenant_id == tenant_id, profiles.c.profile_id == profile_id
        )
    ).one_or_none()
    if row is not None and row.merged_into is not None:
        return find_profile(session, tenant_id, row.merged_into)  # an alias: one hop
    if row is None:
        return None
    identifiers = session.execute(
        select(profile_identifiers).where(
            profile_identifiers.c.tenant_id == tenant_id,
            profile_identifiers.c.profile_id == profile_id,
        )
    )
    return Profile(
        tenant_id=tenant_id,
        profile_id=row.profile_id,
        version=row.version,
        create_time=row.create_time,
        update_time=row.update_time,
        links={
            (i := Identifier(r.id_type, r.id_value, r.hashed)): IdentifierLink(
                i, r.message_id or "", r.link_time
            )
            for r in identifiers
        },
        traits={
            k: TraitValue(v["v"], datetime.fromisoformat(v["t"]))
            for k, v in json.loads(row.traits).items()
        },
        consent=json.loads(row.consent),
    )
