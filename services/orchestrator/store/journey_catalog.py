"""Published journeys on SQLAlchemy: which are live from the `assets` read model, each
version's definition from its asset stream, compiled once per process (versions are
immutable, so the cache never goes stale)."""

from __future__ import annotations

from sqlalchemy import select

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.assets.lifecycle import AssetState
from services.kernel.assets.repository import SqlAssetRepository
from services.kernel.assets.tables import assets
from services.kernel.errors import NotFound
from services.kernel.store.unit_of_work import UnitOfWork
from services.orchestrator.domain.instances.runnable import RunnableJourney, runnable
from services.orchestrator.domain.kinds import JOURNEY
from services.orchestrator.repositories import JourneyCatalog, LiveJourney

_LIVE = (AssetState.PUBLISHED.value, AssetState.PAUSED.value)
MAX_CACHED = 4096


class SqlJourneyCatalog(JourneyCatalog):
    """One per unit of work: what `find` read is kept for the transaction (a batch of
    timers or events asks for the same journey hundreds of times; a publish or pause is
    another transaction, seen by the next one)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self._found: dict[tuple[str, str], LiveJourney | None] = {}
        self._live: dict[str, list[LiveJourney]] = {}

    def live(self, tenant_id: str) -> list[LiveJourney]:
        if tenant_id not in self._live:
            self._live[tenant_id] = self._read_live(tenant_id)
        return list(self._live[tenant_id])

    def _read_live(self, tenant_id: str) -> list[LiveJourney]:
        a = assets
        rows = self.uow.session.execute(
            select(a.c.asset_id, a.c.published_version, a.c.published_state)
            .where(
                a.c.tenant_id == tenant_id,
                a.c.kind == JOURNEY.name,
                a.c.published_state.in_(_LIVE),
            )
            .order_by(a.c.asset_id)
        )
        return [LiveJourney(i, v, s == AssetState.PAUSED.value) for i, v, s in rows]

    def find(self, tenant_id: str, journey_id: str) -> LiveJourney | None:
        key = (tenant_id, journey_id)
        if key not in self._found:
            self._found[key] = self._read(tenant_id, journey_id)
        return self._found[key]

    def _read(self, tenant_id: str, journey_id: str) -> LiveJourney | None:
        record = SqlAssetRepository(self.uow).find(tenant_id, JOURNEY.name, journey_id)
        if record is None or record.published_state not in _LIVE:
            return None
        paused = record.published_state == AssetState.PAUSED.value
        return LiveJourney(journey_id, record.published_version, paused)

    def runnable(self, tenant_id: str, journey_id: str, version: int) -> RunnableJourney:
        key = (tenant_id, journey_id, version)
        found = _by_version.get(key)
        if found is None:
            asset = SqlAssetRepository(self.uow).get(tenant_id, JOURNEY.name, journey_id)
            if not asset.exists or version > asset.latest:
                raise NotFound(f"no journey {journey_id!r} version {version}")
            content = asset.get_version(version).content
            assert isinstance(content, pb.Journey)
            found = runnable(tenant_id, version, content)
            if len(_by_version) >= MAX_CACHED:
                _by_version.clear()
            _by_version[key] = found
        return found


_by_version: dict[tuple[str, str, int], RunnableJourney] = {}
