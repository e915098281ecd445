"""The asset repository in memory: the fake the service layer's unit tests use.

It keeps serialized events per stream exactly as the event store would (so mapping is
exercised) and answers the read model by replaying, so the same contract suite holds.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from typing import Any

from services.kernel.assets.asset import STREAM_PREFIX, Asset
from services.kernel.assets.kinds import KINDS, AssetKindRegistry
from services.kernel.assets.lifecycle import AssetState
from services.kernel.assets.repository import AssetRecord, AssetRepository, asset_events, record_of
from services.kernel.clock import Clock, SystemClock
from services.kernel.errors import ConcurrencyError
from services.kernel.store.memory import InMemoryUnitOfWork
from services.kernel.store.records import EventMetadata, NewEvent, StoredEvent


class InMemoryAssetRepository(AssetRepository):
    def __init__(self, kinds: AssetKindRegistry = KINDS, clock: Clock | None = None) -> None:
        super().__init__(kinds)
        self.clock = clock or SystemClock()
        self.streams: dict[str, list[StoredEvent]] = {}
        self._position = 0

    def _streams(self) -> Mapping[str, object]:
        """The stream ids held (keys)."""
        return self.streams

    def _load(self, stream_id: str) -> list[StoredEvent]:
        return list(self.streams.get(stream_id, []))

    def _append(
        self, stream_id: str, version: int, events: list[NewEvent], metadata: EventMetadata
    ) -> None:
        stream = self.streams.setdefault(stream_id, [])
        if len(stream) != version:
            raise ConcurrencyError(f"stream {stream_id} moved past version {version}")
        for i, e in enumerate(events, start=version + 1):
            self._position += 1
            stream.append(
                StoredEvent(
                    self._position,
                    stream_id,
                    i,
                    e.event_id,
                    e.type,
                    e.payload,
                    metadata,
                    self.clock.now(),
                )
            )

    def find(self, tenant_id: str, kind: str, asset_id: str) -> AssetRecord | None:
        asset = self.get(tenant_id, kind, asset_id)
        return record_of(asset) if asset.exists else None

    def list(
        self, tenant_id: str, kind: str, after: str = "", limit: int | None = None
    ) -> list[AssetRecord]:
        found = [
            r for r in self._records(f"{STREAM_PREFIX}{tenant_id}/{kind}/") if r.asset_id > after
        ]
        return found[:limit]

    def published(self, kind: str) -> builtins.list[tuple[str, str]]:
        return sorted(
            (r.tenant_id, r.asset_id)
            for r in self._records(STREAM_PREFIX, kind)
            if r.published_state == AssetState.PUBLISHED.value
        )

    def _records(self, prefix: str, kind: str = "") -> Iterator[AssetRecord]:
        """Assets whose stream id starts with `prefix` (and of `kind`), by stream id."""
        for stream_id in sorted(s for s in self._streams() if s.startswith(prefix)):
            if kind and stream_id.split("/")[2:3] != [kind]:
                continue
            stored = self._load(stream_id)
            asset = Asset.replay(asset_events(stored, self.kinds), len(stored))
            if asset.exists:
                yield record_of(asset)


class UnitOfWorkAssets(InMemoryAssetRepository):
    """Assets in an in-memory unit of work's streams, so they commit and roll back with it
    (a service's fake whose port holds an asset repository)."""

    def __init__(self, uow: InMemoryUnitOfWork[Any], kinds: AssetKindRegistry = KINDS) -> None:
        super().__init__(kinds, uow.clock)
        self.uow = uow

    def _streams(self) -> Mapping[str, object]:
        streams: dict[str, list[StoredEvent]] = self.uow.state.streams
        return streams

    def _load(self, stream_id: str) -> list[StoredEvent]:
        return self.uow.load(stream_id)

    def _append(
        self, stream_id: str, version: int, events: list[NewEvent], metadata: EventMetadata
    ) -> None:
        self.uow.append(stream_id, version, events, metadata)
