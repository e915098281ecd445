"""Identity's unit of work: the kernel's port plus identity's repositories.

Handlers take `IdentityUnitOfWork`; `store.unit_of_work` adapts it to SQLAlchemy and
`store.memory` keeps it in memory for unit tests, and one contract suite holds both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from services.identity.domain.events import ProfileEvent
from services.identity.domain.identifiers import Hasher, Identifier
from services.identity.domain.personal_data import Sealer
from services.identity.domain.profile import Profile
from services.identity.domain.windows import Window
from services.kernel.assets.repository import AssetRepository
from services.kernel.store.records import EventMetadata
from services.kernel.unit_of_work import AbstractUnitOfWork

# (a stored event's type, its payload) -> the payload rewritten, or None to keep it.
Rewrite = Callable[[str, bytes], bytes | None]

INGEST = "INGEST"
DEADLETTER = "DEADLETTER"


class StreamMessage(NamedTuple):
    """A message in a JetStream stream, by its sequence."""

    stream: str
    sequence: int


class Sweep(NamedTuple):
    """A tenant's dead letters to look through, as last asked for."""

    tenant_id: str
    request_time: datetime


class Published(NamedTuple):
    """A message identity published about a profile, where the stream stored it."""

    tenant_id: str
    profile_id: str
    stream: str
    sequence: int


class ProfileRepository(ABC):
    """Profiles as aggregates (their streams) and as the read model lookups answer from."""

    @abstractmethod
    def owners(self, tenant_id: str, identifiers: Sequence[Identifier]) -> dict[Identifier, str]:
        """Which live profile holds each identifier (those held by none are left out)."""

    @abstractmethod
    def prefetch(self, tenant_id: str, identifiers: Sequence[Identifier]) -> None:
        """A hint: `owners` of these identifiers follows in this transaction (an adapter may
        read them all at once)."""

    @abstractmethod
    def get(self, tenant_id: str, profile_id: str) -> Profile:
        """The aggregate from its stream; LookupError when there is none."""

    @abstractmethod
    def save(self, profile: Profile, metadata: EventMetadata) -> None:
        """Appends the pending events; a stale version raises ConcurrencyError, a forgotten
        profile (no key) LookupError."""

    @abstractmethod
    def live_ids(self, tenant_id: str, after: str, limit: int) -> list[str]:
        """Up to `limit` ids of profiles not merged away, after `after`, by id (batches)."""

    @abstractmethod
    def events(self, tenant_id: str, profile_id: str) -> list[ProfileEvent]:
        """The profile's whole stream, decoded ([] for none): what its history is read from."""

    @abstractmethod
    def live(self, tenant_id: str, ref: Identifier | str) -> Profile | None:
        """The aggregate of the live profile holding the identifier, or by profile id (an
        alias answers the survivor); None for none, a forgotten one or another tenant's."""

    @abstractmethod
    def find(self, tenant_id: str, ref: Identifier | str) -> Profile | None:
        """The read model's profile by identifier or profile id; a merged-away id answers
        the survivor. Holds identifiers, traits, consent and times (no pending events)."""

    @abstractmethod
    def search(
        self, tenant_id: str, trait: str, json_value: str, after: str, limit: int
    ) -> list[Profile]:
        """Live profiles whose (non-personal) trait holds the JSON value, by id after `after`."""


class PersonalDataVault(ABC):
    """One data key per profile; deleting it forgets the person (crypto-shredding)."""

    @abstractmethod
    def create_key(self, tenant_id: str, profile_id: str, at: datetime) -> Sealer: ...

    @abstractmethod
    def cipher(self, tenant_id: str, profile_id: str) -> Sealer | None:
        """The profile's sealer, or None when it has no key (new, or forgotten)."""

    @abstractmethod
    def delete_keys(self, tenant_id: str, profile_ids: Sequence[str]) -> int:
        """Deletes the profiles' keys at once (the key store's own transaction): what they
        sealed is unreadable from now on, whatever becomes of the caller's."""


class Forgetting(ABC):
    """What forgetting keeps: the suppressed identifiers' digests (kept by the projection of
    `ProfileForgotten`), the forgotten profile ids, which stream messages hold each
    profile's data (the raw `INGEST` ones that fed it, the `IDENTITY` ones published about
    it), the messages still to erase, and the messages suppressed with their reason."""

    @abstractmethod
    def suppressed(self, tenant_id: str, digests: Sequence[str]) -> bool:
        """True when any digest is of a forgotten person's identifier."""

    @abstractmethod
    def prefetch(self, tenant_id: str, digests: Sequence[str]) -> None:
        """A hint: `suppressed` of these digests follows in this transaction."""

    @abstractmethod
    def record_message(self, tenant_id: str, profile_id: str, stream_sequence: int) -> None:
        """The `INGEST` message at `stream_sequence` fed the profile."""

    @abstractmethod
    def record_published(self, messages: Sequence[Published], at: datetime) -> None:
        """Identity published these messages about their profiles; one about a profile
        forgotten meanwhile is queued for erasure instead."""

    @abstractmethod
    def split_off(self, tenant_id: str, profile_ids: Sequence[str], to: str) -> None:
        """An unmerge split `to` off these profiles: the messages holding their data hold
        `to`'s too, and so do their events; forgetting `to` looks at both."""

    @abstractmethod
    def split_from(self, tenant_id: str, profile_ids: Sequence[str]) -> set[str]:
        """The profiles these were split off (`split_off`)."""

    @abstractmethod
    def forgotten_among(self, tenant_id: str, profile_ids: Sequence[str]) -> set[str]:
        """Which of the profile ids are forgotten."""

    @abstractmethod
    def suppress_message(
        self, tenant_id: str, message_id: str, reason: str, at: datetime
    ) -> None: ...

    @abstractmethod
    def sweep_dead_letters(self, tenant_id: str, at: datetime) -> None:
        """Asks the eraser to look through the tenant's dead letters for forgotten people's
        (again, when a sweep is under way: it may have read the suppression list before)."""

    @abstractmethod
    def pending_sweeps(self, limit: int) -> list[Sweep]: ...

    @abstractmethod
    def swept(self, sweep: Sweep, sequences: Sequence[int], at: datetime) -> None:
        """The sweep found these `DEADLETTER` messages: queued for erasure, and the sweep
        done unless asked for again since."""

    @abstractmethod
    def erase_message(self, tenant_id: str, stream_sequence: int, at: datetime) -> None:
        """Queues one raw `INGEST` message for erasure."""

    @abstractmethod
    def erase_messages_of(self, tenant_id: str, profile_ids: Sequence[str], at: datetime) -> int:
        """Records the profiles as forgotten and queues every stream message holding their
        data for erasure; returns how many."""

    @abstractmethod
    def move_messages(self, tenant_id: str, old_sequence: int, new_sequence: int) -> None:
        """The `INGEST` message at `old_sequence` was written again at `new_sequence` (less a
        forgotten person's events): the profiles it fed are fed by the new one."""

    @abstractmethod
    def scrub(self, tenant_id: str, profile_ids: Sequence[str], rewrite: Rewrite) -> int:
        """Rewrites the payloads of the profiles' stored events and of their outbox messages
        not relayed yet with `rewrite(type, payload)` (None: kept as it is), in this
        transaction; how many it rewrote. Only forgetting does this, before
        `erase_messages_of`: the relay cannot record one of those messages unseen between."""

    @abstractmethod
    def pending_erasures(self, limit: int) -> list[StreamMessage]:
        """Messages queued for erasure, by stream and sequence."""

    @abstractmethod
    def erased(self, messages: Sequence[StreamMessage]) -> None: ...


class TenantKeys(ABC):
    """Each tenant's key for the keyed hash of matching identifiers."""

    @abstractmethod
    def hasher(self, tenant_id: str, now: datetime) -> Hasher:
        """The tenant's hasher, its key made on first use (a racing writer's key wins)."""

    @abstractmethod
    def existing(self, tenant_id: str) -> Hasher | None:
        """For reads: None while the tenant has no key, so holds no hashed identifier."""


@dataclass
class StoredWindow:
    """A computed trait's window and the definition it was computed under (fingerprint)."""

    fingerprint: str
    window: Window


class ComputedWindows(ABC):
    """Each (profile, computed trait)'s window; `put` also sets the timer that expires it."""

    @abstractmethod
    def get(self, tenant_id: str, profile_id: str, name: str) -> StoredWindow | None: ...

    @abstractmethod
    def of_profile(self, tenant_id: str, profile_id: str) -> dict[str, StoredWindow]:
        """Every window of a profile, by trait name (to move them on a merge)."""

    @abstractmethod
    def put(
        self, tenant_id: str, profile_id: str, name: str, stored: StoredWindow, due: datetime | None
    ) -> None:
        """Keeps the window (an empty one is deleted) and (re)schedules its expiry at `due`
        (None: no expiry), in the same transaction."""

    @abstractmethod
    def delete(self, tenant_id: str, profile_id: str, name: str) -> None:
        """Drops the window and cancels its expiry."""


@dataclass(frozen=True)
class AudienceMember:
    profile_id: str
    audience_version: int
    enter_time: datetime


class AudienceMembers(ABC):
    """Who is in each audience (the read model of AudienceEntered/AudienceExited)."""

    @abstractmethod
    def page(
        self, tenant_id: str, audience_id: str, after: str, limit: int
    ) -> list[AudienceMember]:
        """Up to `limit` members with profile ids after `after`, by profile id."""

    @abstractmethod
    def size(self, tenant_id: str, audience_id: str) -> int:
        """How many members, maintained with them (no count over the members)."""


class AudienceBackfills(ABC):
    """Batches that evaluate an audience over existing profiles (a timer each)."""

    @abstractmethod
    def start(self, tenant_id: str, audience_id: str, *, after: str, due: datetime) -> None:
        """(Re)schedules the audience's next batch: profiles after `after`, at `due`."""


class IdentityUnitOfWork(AbstractUnitOfWork):
    profiles: ProfileRepository
    vault: PersonalDataVault
    tenant_keys: TenantKeys
    assets: AssetRepository  # identifier rules, computed traits, audiences: controlled assets
    computed_windows: ComputedWindows
    audience_members: AudienceMembers
    backfills: AudienceBackfills
    forgetting: Forgetting
