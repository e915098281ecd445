"""Profiles as aggregates on the unit of work's event streams, whichever adapter.

Loading replays the profile's stream (after a snapshot where the adapter keeps them);
saving seals the pending events with the profile's key and appends them. The SQL and
in-memory repositories share this and differ in their read model and snapshots.
"""

from __future__ import annotations

from services.identity import mapping
from services.identity.domain.events import ProfileCreated, ProfileEvent
from services.identity.domain.identifiers import Identifier
from services.identity.domain.personal_data import Sealer
from services.identity.domain.profile import Profile, stream_id
from services.identity.ports import PersonalDataVault, ProfileRepository
from services.kernel.store.records import EventMetadata, StoredEvent
from services.kernel.store.snapshots import Resumed
from services.kernel.unit_of_work import AbstractUnitOfWork

MAX_HOPS = 64  # aliases followed at most (a merged-away id points at its survivor)


class StreamProfiles(ProfileRepository):
    def __init__(self, uow: AbstractUnitOfWork, vault: PersonalDataVault) -> None:
        self.uow = uow
        self.vault = vault

    def get(self, tenant_id: str, profile_id: str) -> Profile:
        stream = stream_id(profile_id)
        cipher = self.vault.cipher(tenant_id, profile_id)
        start, stored = self._tail(stream, cipher)
        profile = replayed(start, stored, cipher)
        if profile is None:
            raise LookupError(profile_id)
        return profile

    def live(self, tenant_id: str, ref: Identifier | str) -> Profile | None:
        """Loads once: the identifier's holder from the read model's index (and the adapter's
        prefetch), then its aggregate; aliases followed through the aggregates."""
        profile_id = self.holder(tenant_id, ref) if isinstance(ref, Identifier) else ref
        for _ in range(MAX_HOPS):
            if profile_id is None:
                return None
            try:
                profile = self.get(tenant_id, profile_id)  # a key deleted: no trait values
            except LookupError:
                return None
            if profile.tenant_id != tenant_id or profile.forgotten:
                return None
            if profile.merged_into is None:
                return profile
            profile_id = profile.merged_into
        return None

    def holder(self, tenant_id: str, identifier: Identifier) -> str | None:
        """The live profile holding one identifier (an adapter may read it more cheaply)."""
        return self.owners(tenant_id, [identifier]).get(identifier)

    def events(self, tenant_id: str, profile_id: str) -> list[ProfileEvent]:
        cipher = self.vault.cipher(tenant_id, profile_id)
        return [mapping.EVENTS.decode(e, cipher) for e in self.uow.load(stream_id(profile_id))]

    def save(self, profile: Profile, metadata: EventMetadata) -> None:
        if not profile.pending:
            return
        cipher: Sealer | None
        if profile.version == 0 and isinstance(profile.pending[0], ProfileCreated):
            # a new profile (its id a fresh uuid): no key to look for
            cipher = self.vault.create_key(profile.tenant_id, profile.profile_id, self.uow.now())
        else:
            cipher = self.vault.cipher(profile.tenant_id, profile.profile_id)
        if cipher is None and not profile.forgotten:
            raise LookupError(f"profile {profile.profile_id} was forgotten")
        new_events = [mapping.EVENTS.new_event(e, cipher) for e in profile.pending]
        before = profile.version
        self.uow.append(profile.stream_id, before, new_events, metadata)
        profile.saved()
        self._saved(profile, before, cipher)

    def _tail(
        self, stream: str, cipher: Sealer | None
    ) -> tuple[Resumed[Profile], list[StoredEvent]]:
        """Where replay starts and the events after it: the whole stream by default."""
        return Resumed(None, 0), self.uow.load(stream)

    def _saved(self, profile: Profile, before: int, cipher: Sealer | None) -> None:
        """After an append from version `before` (the adapter's snapshot or read model)."""


def replayed(
    start: Resumed[Profile], stored: list[StoredEvent], cipher: Sealer | None
) -> Profile | None:
    """The profile from where loading starts and the events after it; None for no stream."""
    if start.aggregate is None and not stored:
        return None
    events = (mapping.EVENTS.decode(e, cipher) for e in stored)
    return Profile.replay(events, stored[-1].version if stored else start.version, start.aggregate)
