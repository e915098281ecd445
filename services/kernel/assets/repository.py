"""Where assets and tenant asset policies are kept: a port, and its event-store adapter.

Both load an aggregate from its stream and append its pending events after the version
it was loaded at, so a stale writer gets ConcurrencyError. `AssetRecord` is the read
model row (one per asset) that lists and dashboards query instead of replaying streams.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from services.kernel import telemetry
from services.kernel.assets.asset import Asset
from services.kernel.assets.events import AssetEvent, AssetPolicySet, Change
from services.kernel.assets.kinds import KINDS, AssetKind, AssetKindRegistry
from services.kernel.assets.lifecycle import AssetState
from services.kernel.assets.mapping import from_stored, to_new_event
from services.kernel.assets.policy import TenantAssetPolicy, policy_stream_id
from services.kernel.assets.tables import assets
from services.kernel.errors import InvalidArgument
from services.kernel.store.records import EventMetadata, NewEvent, StoredEvent
from services.kernel.store.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class AssetRecord:
    """An asset at a glance: state, live version and its hash, ownership."""

    tenant_id: str
    kind: str
    asset_id: str
    state: str
    latest_version: int
    published_version: int
    published_state: str
    content_hash: str
    display_name: str
    owner: str
    team: str
    support_contact: str
    tags: tuple[str, ...]
    stream_version: int
    update_time: datetime


def record_of(asset: Asset) -> AssetRecord:
    """The read-model row of an asset: metadata of its latest version, hash of its live one."""
    assert asset.kind is not None and asset.state is not None, "a created asset"
    latest = asset.get_version(asset.latest)
    live = asset.live_version
    return AssetRecord(
        tenant_id=asset.tenant_id,
        kind=asset.kind.name,
        asset_id=asset.asset_id,
        state=asset.state.value,
        latest_version=asset.latest,
        published_version=live.number if live else 0,
        published_state=live.state.value if live else "",
        content_hash=live.content_hash if live else "",
        display_name=latest.metadata.display_name,
        owner=latest.metadata.owner,
        team=latest.metadata.team,
        support_contact=latest.metadata.support_contact,
        tags=latest.metadata.tags,
        stream_version=asset.version,
        update_time=asset.history[-1].change.time,
    )


def asset_events(stored: Iterable[StoredEvent], kinds: AssetKindRegistry) -> Iterator[AssetEvent]:
    for s in stored:
        event = from_stored(s, kinds)
        if isinstance(event, AssetPolicySet):
            raise ValueError(f"stream {s.stream_id} mixes a policy event into an asset")
        yield event


class AssetRepository(ABC):
    """The port the service layer uses; `SqlAssetRepository` and the in-memory fake implement
    it, and `tests/contracts/asset_lifecycle.py` runs against both."""

    def __init__(self, kinds: AssetKindRegistry = KINDS) -> None:
        self.kinds = kinds

    def kind(self, name: str) -> AssetKind:
        """A registered kind; INVALID_ARGUMENT naming `kind` otherwise."""
        try:
            return self.kinds.get(name)
        except KeyError:
            raise InvalidArgument.field("kind", f"no asset kind {name[:40]!r}") from None

    def get(self, tenant_id: str, kind: str, asset_id: str) -> Asset:
        """The asset rebuilt from its stream; a blank one (not `exists`) when there is none."""
        blank = Asset.blank(tenant_id, self.kind(kind), asset_id)
        stored = self._load(blank.stream_id)
        if not stored:
            return blank
        return Asset.replay(asset_events(stored, self.kinds), stored[-1].version)

    def save(self, asset: Asset) -> None:
        """Appends the pending events; a stale version raises ConcurrencyError."""
        self._save(asset.stream_id, asset.tenant_id, asset.version, list(asset.pending))
        asset.saved()

    def policy(self, tenant_id: str) -> TenantAssetPolicy:
        stored = self._load(policy_stream_id(tenant_id))
        if not stored:
            return TenantAssetPolicy(tenant_id=tenant_id)
        events = (e for s in stored if isinstance(e := from_stored(s, self.kinds), AssetPolicySet))
        return TenantAssetPolicy.replay(events, stored[-1].version)

    def save_policy(self, policy: TenantAssetPolicy) -> None:
        self._save(policy.stream_id, policy.tenant_id, policy.version, list(policy.pending))
        policy.saved()

    def _save(
        self,
        stream_id: str,
        tenant_id: str,
        version: int,
        pending: Sequence[AssetEvent | AssetPolicySet],
    ) -> None:
        if not pending:
            return
        change: Change = pending[0].change
        metadata = EventMetadata(
            tenant_id=tenant_id,
            actor=change.actor,
            traceparent=telemetry.current_traceparent(),
        )
        self._append(stream_id, version, [to_new_event(e) for e in pending], metadata)

    @abstractmethod
    def _load(self, stream_id: str) -> list[StoredEvent]: ...

    @abstractmethod
    def _append(
        self, stream_id: str, version: int, events: list[NewEvent], metadata: EventMetadata
    ) -> None: ...

    @abstractmethod
    def find(self, tenant_id: str, kind: str, asset_id: str) -> AssetRecord | None:
        """The read-model row of one asset."""

    @abstractmethod
    def list(
        self, tenant_id: str, kind: str, after: str = "", limit: int | None = None
    ) -> list[AssetRecord]:
        """A tenant's assets of one kind, by id: those after the id `after`, at most `limit`
        (a page, read as a seek of the primary key)."""

    @abstractmethod
    def published(self, kind: str) -> builtins.list[tuple[str, str]]:
        """(tenant, asset id) of every asset of `kind` with a live version, in every tenant:
        what a replica loads into its caches at start."""


class SqlAssetRepository(AssetRepository):
    """Assets on the kernel's event store, inside the caller's unit of work. The read model
    is written by `AssetProjection`, which the unit of work runs on every append."""

    def __init__(self, uow: UnitOfWork, kinds: AssetKindRegistry = KINDS) -> None:
        super().__init__(kinds)
        self.uow = uow

    def _load(self, stream_id: str) -> list[StoredEvent]:
        return self.uow.events.load(stream_id)

    def _append(
        self, stream_id: str, version: int, events: list[NewEvent], metadata: EventMetadata
    ) -> None:
        self.uow.append(stream_id, version, events, metadata)

    def find(self, tenant_id: str, kind: str, asset_id: str) -> AssetRecord | None:
        row = self.uow.session.execute(
            select(assets).where(
                assets.c.tenant_id == tenant_id,
                assets.c.kind == kind,
                assets.c.asset_id == asset_id,
            )
        ).one_or_none()
        return None if row is None else _record(row._mapping)

    def list(
        self, tenant_id: str, kind: str, after: str = "", limit: int | None = None
    ) -> list[AssetRecord]:
        rows = self.uow.session.execute(list_query(tenant_id, kind, after, limit))
        return [_record(r._mapping) for r in rows]

    def published(self, kind: str) -> builtins.list[tuple[str, str]]:
        rows = self.uow.session.execute(
            select(assets.c.tenant_id, assets.c.asset_id)
            .where(assets.c.kind == kind, assets.c.published_state == AssetState.PUBLISHED.value)
            .order_by(assets.c.tenant_id, assets.c.asset_id)
        )
        return [(r.tenant_id, r.asset_id) for r in rows]


def list_query(tenant_id: str, kind: str, after: str, limit: int | None) -> Select[Any]:
    """A page of a tenant's assets of one kind by id: a seek of the primary key."""
    query = (
        select(assets)
        .where(assets.c.tenant_id == tenant_id, assets.c.kind == kind)
        .order_by(assets.c.asset_id)
        .limit(limit)
    )
    return query.where(assets.c.asset_id > after) if after else query


def record_row(record: AssetRecord) -> dict[str, object]:
    row = dict(record.__dict__)
    row["tags"] = " ".join(record.tags)
    return row


def _record(row: object) -> AssetRecord:
    values = dict(row)  # type: ignore[call-overload]
    values["tags"] = tuple(values["tags"].split())
    return AssetRecord(**values)
