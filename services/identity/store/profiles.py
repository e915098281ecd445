"""The profile repository on SQLAlchemy: snapshots, and lookups from the read model
(`profiles`, `profile_identifiers`, kept by `store.projection` on every append)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, bindparam, select

from services.identity.domain.events import (
    IdentifierLink,
    ProfileForgotten,
    ProfileMergedInto,
    ProfileSplit,
)
from services.identity.domain.identifiers import Identifier
from services.identity.domain.personal_data import Sealer
from services.identity.domain.profile import Profile, stream_id
from services.identity.ports import PersonalDataVault
from services.identity.store.profile_streams import StreamProfiles, replayed
from services.identity.store.sealed_traits import opened
from services.identity.store.snapshot import PROFILE_STATE
from services.identity.store.tables import profile_identifiers, profiles
from services.identity.store.trait_index import search_query
from services.kernel.store.records import EventMetadata, StoredEvent
from services.kernel.store.snapshots import Resumed
from services.kernel.store.unit_of_work import UnitOfWork

# What makes a profile let go of identifiers it held.
LETS_GO = (ProfileMergedInto, ProfileSplit, ProfileForgotten)


class SqlProfileRepository(StreamProfiles):
    """Remembers, for the rest of its transaction, the profiles it loaded or saved (an
    identity map) and who holds each identifier it read or linked, so a batch of events
    reads each profile and each identifier once (`prefetch` reads a batch's identifiers,
    then the profiles holding them, with a query each). `forget_cached` drops both when a
    block of the transaction fails."""

    def __init__(self, uow: UnitOfWork, vault: PersonalDataVault) -> None:
        super().__init__(uow, vault)
        self.sql = uow
        self.session = uow.session
        self._held: dict[tuple[str, Identifier], str | None] = {}  # None: held by none
        self._holding: dict[tuple[str, str], set[Identifier]] = {}  # _held, by owner
        self._loaded: dict[tuple[str, str], Profile] = {}

    def forget_cached(self) -> None:
        self._held.clear()
        self._holding.clear()
        self._loaded.clear()

    def _hold(self, tenant_id: str, identifier: Identifier, owner: str | None) -> None:
        key = (tenant_id, identifier)
        before = self._held.get(key)
        if before == owner and key in self._held:
            return
        if before is not None:
            self._holding[(tenant_id, before)].discard(identifier)
        self._held[key] = owner
        if owner is not None:
            self._holding.setdefault((tenant_id, owner), set()).add(identifier)

    def prefetch(self, tenant_id: str, identifiers: Sequence[Identifier]) -> None:
        """Reads who holds `identifiers` (one query), for the `owners` calls that follow."""
        todo = [i for i in dict.fromkeys(identifiers) if (tenant_id, i) not in self._held]
        if not todo:
            return
        by_key = {(i.type, i.value): i for i in todo}
        found = {i: None for i in todo} | {
            by_key[(r.id_type, r.id_value)]: r.profile_id
            for r in self.session.execute(owners_query(tenant_id, todo))
            if (r.id_type, r.id_value) in by_key
        }
        for identifier, owner in found.items():
            self._hold(tenant_id, identifier, owner)
        self._load(tenant_id, sorted({o for o in found.values() if o is not None}))

    def _load(self, tenant_id: str, profile_ids: list[str]) -> None:
        """Loads the profiles not held yet with two queries (their snapshots, then the events
        after them), so resolving a batch replays no stream event by event."""
        todo = [p for p in profile_ids if (tenant_id, p) not in self._loaded]
        if not todo:
            return
        self.sql.flush()  # new profiles' keys before the events they seal
        ciphers = {stream_id(p): self.vault.cipher(tenant_id, p) for p in todo}
        starts = self.sql.snapshots.resume_many(ciphers, PROFILE_STATE)
        tails = self.sql.events.load_tails({s: start.version for s, start in starts.items()})
        for profile_id in todo:
            stream = stream_id(profile_id)
            profile = replayed(starts[stream], tails.get(stream, []), ciphers[stream])
            if profile is not None:
                self._loaded[(tenant_id, profile_id)] = profile

    def owners(self, tenant_id: str, identifiers: Sequence[Identifier]) -> dict[Identifier, str]:
        """Who holds each identifier, read inside the transaction that will append.

        `tenant_id = ? AND id_type IN (...) AND id_value IN (...)` is a primary-key seek per
        (type, value) pair on SQLite and PostgreSQL, whatever the tenant holds (a row-value
        IN was planned as a scan of the tenant); pairs the product adds are filtered here.
        """
        self.prefetch(tenant_id, identifiers)
        held = ((i, self._held[(tenant_id, i)]) for i in identifiers)
        return {i: owner for i, owner in held if owner is not None}

    def get(self, tenant_id: str, profile_id: str) -> Profile:
        known = self._loaded.get((tenant_id, profile_id))
        if known is not None and not known.pending:
            return known
        profile = super().get(tenant_id, profile_id)
        self._loaded[(tenant_id, profile_id)] = profile
        return profile

    def save(self, profile: Profile, metadata: EventMetadata) -> None:
        if not profile.pending:
            return
        changes = profile.pending[:]  # save() clears them
        super().save(profile, metadata)
        tenant, profile_id = profile.tenant_id, profile.profile_id
        self._loaded[(tenant, profile_id)] = profile
        live = profile.merged_into is None and not profile.forgotten
        if any(isinstance(e, LETS_GO) for e in changes):  # identifiers left it
            held = self._holding.get((tenant, profile_id), set())
            for identifier in [i for i in held if not live or i not in profile.links]:
                del self._held[(tenant, identifier)]
                held.discard(identifier)
        if live:
            for identifier in profile.links:
                self._hold(tenant, identifier, profile_id)

    def live_ids(self, tenant_id: str, after: str, limit: int) -> list[str]:
        c = profiles.c
        return list(
            self.session.execute(
                select(c.profile_id)
                .where(c.tenant_id == tenant_id, c.profile_id > after, c.merged_into.is_(None))
                .order_by(c.profile_id)
                .limit(limit)
            ).scalars()
        )

    def _tail(
        self, stream: str, cipher: Sealer | None
    ) -> tuple[Resumed[Profile], list[StoredEvent]]:
        self.sql.flush()  # new profiles' keys before the events they seal
        start = self.sql.snapshots.resume(stream, PROFILE_STATE, cipher)
        return start, self.sql.events.load(stream, after_version=start.version)

    def _saved(self, profile: Profile, before: int, cipher: Sealer | None) -> None:
        if cipher is None:  # forgotten: nothing to snapshot
            return
        self.sql.snapshots.after_append(
            profile.stream_id,
            before,
            profile.version,
            profile,
            PROFILE_STATE,
            cipher,
            self.uow.now(),
        )

    def holder(self, tenant_id: str, identifier: Identifier) -> str | None:
        """A primary-key seek, its statement built once (a read's cost is mostly building)."""
        if (tenant_id, identifier) in self._held:
            return self._held[(tenant_id, identifier)]
        return self.session.execute(
            HOLDER, {"tenant": tenant_id, "type": identifier.type, "value": identifier.value}
        ).scalar_one_or_none()

    def find(self, tenant_id: str, ref: Identifier | str) -> Profile | None:
        profile_id = self.holder(tenant_id, ref) if isinstance(ref, Identifier) else ref
        if profile_id is None:
            return None
        row = self.session.execute(
            select(profiles).where(
                profiles.c.tenant_id == tenant_id, profiles.c.profile_id == profile_id
            )
        ).one_or_none()
        if row is not None and row.merged_into is not None:
            return self.find(tenant_id, row.merged_into)  # an alias: one hop
        if row is None:
            return None
        identifiers = self.session.execute(
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
            traits=opened(json.loads(row.traits), self.vault.cipher(tenant_id, row.profile_id)),
            consent=json.loads(row.consent),
        )

    def search(
        self, tenant_id: str, trait: str, json_value: str, after: str, limit: int
    ) -> list[Profile]:
        ids = self.session.execute(search_query(tenant_id, trait, json_value, after, limit))
        found = (self.find(tenant_id, profile_id) for profile_id in ids.scalars())
        return [p for p in found if p is not None]


HOLDER = select(profile_identifiers.c.profile_id).where(
    profile_identifiers.c.tenant_id == bindparam("tenant"),
    profile_identifiers.c.id_type == bindparam("type"),
    profile_identifiers.c.id_value == bindparam("value"),
)


def owners_query(tenant_id: str, identifiers: Sequence[Identifier]) -> Select[Any]:
    """The owners lookup; tests read its plan with EXPLAIN."""
    c = profile_identifiers.c
    return select(c.id_type, c.id_value, c.profile_id).where(
        c.tenant_id == tenant_id,
        c.id_type.in_(sorted({i.type for i in identifiers})),
        c.id_value.in_(sorted({i.value for i in identifiers})),
    )
