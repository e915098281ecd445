"""Identity's unit of work in memory, for handlers' unit tests.

Profiles live in the unit of work's streams, sealed as on SQL; the read model
(owners of identifiers, the profiles lookups answer from) is kept on every save.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.identity import mapping
from services.identity.domain.events import AudienceEntered, AudienceExited, ProfileForgotten
from services.identity.domain.identifiers import Hasher, Identifier
from services.identity.domain.personal_data import Sealer
from services.identity.domain.profile import Profile, stream_id
from services.identity.ports import (
    DEADLETTER,
    INGEST,
    AudienceBackfills,
    AudienceMember,
    AudienceMembers,
    ComputedWindows,
    Forgetting,
    IdentityUnitOfWork,
    PersonalDataVault,
    Published,
    Rewrite,
    StoredWindow,
    StreamMessage,
    Sweep,
    TenantKeys,
)
from services.identity.store.audiences import TYPES as AUDIENCE_EVENTS
from services.identity.store.audiences import backfill_payload, backfill_timer_id
from services.identity.store.profile_streams import StreamProfiles
from services.identity.store.tenant_keys import keyed_hasher, new_key
from services.identity.store.trait_index import searchable
from services.identity.store.vault import ProfileCipher
from services.identity.store.vault import new_key as new_profile_key
from services.identity.store.windows import expiry_payload, timer_id
from services.kernel.assets.memory import UnitOfWorkAssets
from services.kernel.clock import Clock
from services.kernel.store.memory import InMemoryDatabase, InMemoryUnitOfWork, MemoryState


@dataclass
class IdentityState(MemoryState):
    profiles: dict[tuple[str, str], Profile] = field(default_factory=dict)  # the read model
    owners: dict[tuple[str, Identifier], str] = field(default_factory=dict)
    profile_keys: dict[tuple[str, str], bytes] = field(default_factory=dict)
    tenant_keys: dict[str, bytes] = field(default_factory=dict)
    windows: dict[tuple[str, str, str], StoredWindow] = field(default_factory=dict)
    timers: dict[tuple[str, str], tuple[datetime, bytes]] = field(default_factory=dict)
    forgotten: dict[tuple[str, str], str] = field(default_factory=dict)  # digest -> profile
    profile_messages: set[Published] = field(default_factory=set)
    erasures: dict[StreamMessage, str] = field(default_factory=dict)  # -> tenant
    forgotten_profiles: set[tuple[str, str]] = field(default_factory=set)
    sweeps: dict[str, datetime] = field(default_factory=dict)  # tenant -> request time
    splits: set[tuple[str, str, str]] = field(default_factory=set)  # tenant, profile, from
    suppressed_messages: dict[tuple[str, str], str] = field(default_factory=dict)  # -> reason


def _read_copy(profile: Profile) -> Profile:
    """What the read model holds of a profile (as the SQL projection does)."""
    return Profile(
        tenant_id=profile.tenant_id,
        profile_id=profile.profile_id,
        version=profile.version,
        create_time=profile.create_time,
        update_time=profile.update_time,
        links=dict(profile.links),
        traits=dict(profile.traits),
        consent=dict(profile.consent),
        merged_into=profile.merged_into,
    )


class MemoryProfiles(StreamProfiles):
    def __init__(self, uow: InMemoryIdentityUnitOfWork) -> None:
        super().__init__(uow, uow.vault)
        self.memory = uow

    def prefetch(self, tenant_id: str, identifiers: Sequence[Identifier]) -> None:
        """Nothing to read ahead in memory."""

    def owners(self, tenant_id: str, identifiers: Sequence[Identifier]) -> dict[Identifier, str]:
        held = self.memory.state.owners
        return {i: held[(tenant_id, i)] for i in identifiers if (tenant_id, i) in held}

    def _saved(self, profile: Profile, before: int, cipher: Sealer | None) -> None:
        state = self.memory.state
        if profile.forgotten:
            self._forget(profile)
            return
        state.profiles[(profile.tenant_id, profile.profile_id)] = _read_copy(profile)
        if profile.merged_into is None:
            for i in profile.identifiers:
                state.owners[(profile.tenant_id, i)] = profile.profile_id

    def live_ids(self, tenant_id: str, after: str, limit: int) -> list[str]:
        found = sorted(
            p
            for (t, p), profile in self.memory.state.profiles.items()
            if t == tenant_id and p > after and profile.merged_into is None
        )
        return found[:limit]

    def _forget(self, profile: Profile) -> None:
        """As the SQL projection of ProfileForgotten: the read model drops the person and
        the suppression list takes their digests."""
        state, tenant = self.memory.state, profile.tenant_id
        event = self.memory.load(profile.stream_id)[-1]
        forgotten = mapping.EVENTS.decode(event, None)
        assert isinstance(forgotten, ProfileForgotten)
        gone = {profile.profile_id, *forgotten.alias_profile_ids}
        for key in [k for k in state.profiles if k[0] == tenant and k[1] in gone]:
            del state.profiles[key]
        for owned in [k for k, p in state.owners.items() if k[0] == tenant and p in gone]:
            del state.owners[owned]
        for digest in forgotten.suppressed_digests:
            state.forgotten.setdefault((tenant, digest), profile.profile_id)

    def find(self, tenant_id: str, ref: Identifier | str) -> Profile | None:
        state = self.memory.state
        profile_id = state.owners.get((tenant_id, ref)) if isinstance(ref, Identifier) else ref
        found = state.profiles.get((tenant_id, profile_id)) if profile_id else None
        if found is not None and found.merged_into is not None:
            return self.find(tenant_id, found.merged_into)  # an alias, maybe of an alias
        return None if found is None else dataclasses.replace(_read_copy(found), merged_into=None)

    def search(
        self, tenant_id: str, trait: str, json_value: str, after: str, limit: int
    ) -> list[Profile]:
        held = self.memory.state.profiles
        found = sorted(
            profile_id
            for (tenant, profile_id), p in held.items()
            if tenant == tenant_id
            and p.merged_into is None
            and profile_id > after
            and searchable(trait)
            and trait in p.traits
            and p.traits[trait].json_value == json_value
        )
        return [_read_copy(held[(tenant_id, p)]) for p in found[:limit]]


class MemoryVault(PersonalDataVault):
    def __init__(self, uow: InMemoryIdentityUnitOfWork) -> None:
        self.memory = uow

    def create_key(self, tenant_id: str, profile_id: str, at: datetime) -> Sealer:
        key = new_profile_key()
        self.memory.state.profile_keys[(tenant_id, profile_id)] = key
        return ProfileCipher(key, tenant_id, profile_id)

    def cipher(self, tenant_id: str, profile_id: str) -> Sealer | None:
        key = self.memory.state.profile_keys.get((tenant_id, profile_id))
        return None if key is None else ProfileCipher(key, tenant_id, profile_id)

    def delete_keys(self, tenant_id: str, profile_ids: Sequence[str]) -> int:
        keys = self.memory.state.profile_keys
        return sum(keys.pop((tenant_id, p), None) is not None for p in profile_ids)


class MemoryForgetting(Forgetting):
    def __init__(self, uow: InMemoryIdentityUnitOfWork) -> None:
        self.memory = uow

    def prefetch(self, tenant_id: str, digests: Sequence[str]) -> None:
        """Nothing to read ahead in memory."""

    def suppressed(self, tenant_id: str, digests: Sequence[str]) -> bool:
        return any((tenant_id, d) in self.memory.state.forgotten for d in digests)

    def record_message(self, tenant_id: str, profile_id: str, stream_sequence: int) -> None:
        self.memory.state.profile_messages.add(
            Published(tenant_id, profile_id, INGEST, stream_sequence)
        )

    def record_published(self, messages: Sequence[Published], at: datetime) -> None:
        state = self.memory.state
        for m in messages:
            if (m.tenant_id, m.profile_id) in state.forgotten_profiles:
                state.erasures[StreamMessage(m.stream, m.sequence)] = m.tenant_id
            else:
                state.profile_messages.add(m)

    def split_off(self, tenant_id: str, profile_ids: Sequence[str], to: str) -> None:
        state = self.memory.state
        state.profile_messages |= {
            m._replace(profile_id=to)
            for m in state.profile_messages
            if m.tenant_id == tenant_id and m.profile_id in profile_ids
        }
        state.splits |= {(tenant_id, to, p) for p in profile_ids}

    def split_from(self, tenant_id: str, profile_ids: Sequence[str]) -> set[str]:
        return {f for t, p, f in self.memory.state.splits if t == tenant_id and p in profile_ids}

    def forgotten_among(self, tenant_id: str, profile_ids: Sequence[str]) -> set[str]:
        return {p for p in profile_ids if (tenant_id, p) in self.memory.state.forgotten_profiles}

    def sweep_dead_letters(self, tenant_id: str, at: datetime) -> None:
        self.memory.state.sweeps[tenant_id] = at

    def pending_sweeps(self, limit: int) -> list[Sweep]:
        return [Sweep(*s) for s in sorted(self.memory.state.sweeps.items())][:limit]

    def swept(self, sweep: Sweep, sequences: Sequence[int], at: datetime) -> None:
        state = self.memory.state
        state.erasures |= {StreamMessage(DEADLETTER, s): sweep.tenant_id for s in sequences}
        if state.sweeps.get(sweep.tenant_id) == sweep.request_time:
            del state.sweeps[sweep.tenant_id]

    def suppress_message(self, tenant_id: str, message_id: str, reason: str, at: datetime) -> None:
        self.memory.state.suppressed_messages.setdefault((tenant_id, message_id), reason)

    def erase_message(self, tenant_id: str, stream_sequence: int, at: datetime) -> None:
        self.memory.state.erasures[StreamMessage(INGEST, stream_sequence)] = tenant_id

    def erase_messages_of(self, tenant_id: str, profile_ids: Sequence[str], at: datetime) -> int:
        state = self.memory.state
        state.forgotten_profiles |= {(tenant_id, p) for p in profile_ids}
        fed = {m for m in state.profile_messages if m[0] == tenant_id and m[1] in profile_ids}
        state.profile_messages -= fed
        found = {StreamMessage(m.stream, m.sequence) for m in fed}
        state.erasures |= dict.fromkeys(found, tenant_id)
        return len(found)

    def move_messages(self, tenant_id: str, old_sequence: int, new_sequence: int) -> None:
        state = self.memory.state
        fed = {
            m
            for m in state.profile_messages
            if m.tenant_id == tenant_id and m.stream == INGEST and m.sequence == old_sequence
        }
        state.profile_messages -= fed
        state.profile_messages |= {m._replace(sequence=new_sequence) for m in fed}

    def scrub(self, tenant_id: str, profile_ids: Sequence[str], rewrite: Rewrite) -> int:
        state, rewritten = self.memory.state, 0
        for profile_id in profile_ids:
            stored = state.streams.get(stream_id(profile_id), [])
            for n, event in enumerate(stored):
                if event.metadata.tenant_id == tenant_id:
                    new = rewrite(event.type, event.payload)
                    if new is not None:
                        stored[n], rewritten = (
                            dataclasses.replace(event, payload=new),
                            rewritten + 1,
                        )
        for n, message in enumerate(state.outbox):
            if message.tenant_id == tenant_id and message.subject_ref in profile_ids:
                new = rewrite(message.type, message.payload)
                if new is not None:
                    state.outbox[n] = dataclasses.replace(message, payload=new)
                    rewritten += 1
        return rewritten

    def pending_erasures(self, limit: int) -> list[StreamMessage]:
        return sorted(self.memory.state.erasures)[:limit]

    def erased(self, messages: Sequence[StreamMessage]) -> None:
        for message in messages:
            self.memory.state.erasures.pop(message, None)


class MemoryTenantKeys(TenantKeys):
    def __init__(self, uow: InMemoryIdentityUnitOfWork) -> None:
        self.memory = uow

    def hasher(self, tenant_id: str, now: datetime) -> Hasher:
        return keyed_hasher(self.memory.state.tenant_keys.setdefault(tenant_id, new_key()))

    def existing(self, tenant_id: str) -> Hasher | None:
        key = self.memory.state.tenant_keys.get(tenant_id)
        return None if key is None else keyed_hasher(key)


class MemoryComputedWindows(ComputedWindows):
    """Windows in memory; their expiry timers kept in `state.timers` for tests to fire."""

    def __init__(self, uow: InMemoryIdentityUnitOfWork) -> None:
        self.memory = uow

    def get(self, tenant_id: str, profile_id: str, name: str) -> StoredWindow | None:
        found = self.memory.state.windows.get((tenant_id, profile_id, name))
        return None if found is None else copy.deepcopy(found)

    def of_profile(self, tenant_id: str, profile_id: str) -> dict[str, StoredWindow]:
        return {
            name: copy.deepcopy(w)
            for (t, p, name), w in self.memory.state.windows.items()
            if (t, p) == (tenant_id, profile_id)
        }

    def put(
        self, tenant_id: str, profile_id: str, name: str, stored: StoredWindow, due: datetime | None
    ) -> None:
        if not stored.window.buckets:
            self.delete(tenant_id, profile_id, name)
            return
        self.memory.state.windows[(tenant_id, profile_id, name)] = copy.deepcopy(stored)
        key = (tenant_id, timer_id(profile_id, name))
        if due is None:
            self.memory.state.timers.pop(key, None)
        else:
            self.memory.state.timers[key] = (due, expiry_payload(profile_id, name))

    def delete(self, tenant_id: str, profile_id: str, name: str) -> None:
        self.memory.state.windows.pop((tenant_id, profile_id, name), None)
        self.memory.state.timers.pop((tenant_id, timer_id(profile_id, name)), None)


class MemoryBackfills(AudienceBackfills):
    def __init__(self, uow: InMemoryIdentityUnitOfWork) -> None:
        self.memory = uow

    def start(self, tenant_id: str, audience_id: str, *, after: str, due: datetime) -> None:
        key = (tenant_id, backfill_timer_id(audience_id))
        self.memory.state.timers[key] = (due, backfill_payload(audience_id, after))


class MemoryAudienceMembers(AudienceMembers):
    """Members from the profiles' audience events, replayed on each read (a fake)."""

    def __init__(self, uow: InMemoryIdentityUnitOfWork) -> None:
        self.memory = uow

    def _members(self, tenant_id: str, audience_id: str) -> dict[str, AudienceMember]:
        members: dict[str, AudienceMember] = {}
        for stream in self.memory.state.streams.values():
            for stored in stream:
                if stored.type not in AUDIENCE_EVENTS or stored.metadata.tenant_id != tenant_id:
                    continue
                profile_id = stored.stream_id.removeprefix("profile-")
                match mapping.EVENTS.decode(stored, None):
                    case AudienceEntered(audience, version, at) if audience == audience_id:
                        members[profile_id] = AudienceMember(profile_id, version, at)
                    case AudienceExited(audience) if audience == audience_id:
                        members.pop(profile_id, None)
        return members

    def page(
        self, tenant_id: str, audience_id: str, after: str, limit: int
    ) -> list[AudienceMember]:
        members = self._members(tenant_id, audience_id)
        return [members[p] for p in sorted(members) if p > after][:limit]

    def size(self, tenant_id: str, audience_id: str) -> int:
        return len(self._members(tenant_id, audience_id))


class InMemoryIdentityUnitOfWork(InMemoryUnitOfWork[IdentityState], IdentityUnitOfWork):
    def attach_repositories(self) -> None:
        self.vault = MemoryVault(self)
        self.profiles = MemoryProfiles(self)
        self.tenant_keys = MemoryTenantKeys(self)
        self.forgetting = MemoryForgetting(self)
        self.assets = UnitOfWorkAssets(self)
        self.computed_windows = MemoryComputedWindows(self)
        self.audience_members = MemoryAudienceMembers(self)
        self.backfills = MemoryBackfills(self)


def in_memory(clock: Clock) -> InMemoryDatabase[IdentityState]:
    return InMemoryDatabase(IdentityState(), clock)
