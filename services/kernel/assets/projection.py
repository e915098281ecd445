"""Keeps the `assets` read model in step with asset streams, in the append's transaction.

Each asset event rebuilds its asset from the stream up to that event and writes the
row, so the row is exactly what the aggregate says; asset streams are short (tens of
changes), which keeps this cheap, and `replay` rebuilds the table from the log.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from services.kernel.assets.asset import Asset, is_asset_stream
from services.kernel.assets.kinds import KINDS, AssetKindRegistry
from services.kernel.assets.repository import asset_events, record_of, record_row
from services.kernel.assets.tables import assets
from services.kernel.store.event_store import EventStore
from services.kernel.store.records import StoredEvent


class AssetProjection:
    name = "assets"

    def __init__(self, kinds: AssetKindRegistry = KINDS) -> None:
        self.kinds = kinds

    def apply(self, session: Session, events: Sequence[StoredEvent]) -> None:
        for event in events:
            if is_asset_stream(event.stream_id):
                self._apply(session, event)

    def _apply(self, session: Session, event: StoredEvent) -> None:
        stored = [
            s for s in EventStore(session).load(event.stream_id) if s.version <= event.version
        ]
        asset = Asset.replay(asset_events(stored, self.kinds), event.version)
        if not asset.exists:  # created, its first draft comes in the same append
            return
        record = record_of(asset)
        session.execute(
            delete(assets).where(
                assets.c.tenant_id == record.tenant_id,
                assets.c.kind == record.kind,
                assets.c.asset_id == record.asset_id,
            )
        )
        session.execute(insert(assets).values(record_row(record)))

    def clear(self, session: Session) -> None:
        session.execute(delete(assets))
