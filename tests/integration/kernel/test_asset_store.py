"""The asset read model on SQLite and PostgreSQL: same transaction as the append, replayable."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.kernel.assets import AssetKindRegistry, AssetMetadata, tables
from services.kernel.assets.projection import AssetProjection
from services.kernel.assets.repository import SqlAssetRepository
from services.kernel.assets.tables import assets
from services.kernel.clock import FixedClock
from services.kernel.store.database import Database
from services.kernel.store.projections import replay
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.contracts.asset_harness import ANN, CAT, OPS, TENANT
from tests.integration.harness import schema_drift
from tests.integration.kernel.test_asset_lifecycle import TEST_KIND, profile

META = AssetMetadata(owner="ann", team="growth", support_contact="#oncall", tags=("b", "a"))


@pytest.fixture
def kinds() -> AssetKindRegistry:
    registry = AssetKindRegistry()
    registry.register(TEST_KIND)
    return registry


@pytest.fixture
def units(database: Database, clock: FixedClock, kinds: AssetKindRegistry) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(database.sessions, clock, [AssetProjection(kinds)])


def test_an_uncommitted_change_leaves_neither_events_nor_a_row(
    units: UnitOfWorkFactory, kinds: AssetKindRegistry, clock: FixedClock
) -> None:
    with units() as uow:
        repo = SqlAssetRepository(uow, kinds)
        asset = repo.get(TENANT, "test_asset", "a1")
        asset.edit(ANN, profile(1), META, at=clock.now())
        repo.save(asset)
        assert repo.find(TENANT, "test_asset", "a1") is not None  # same transaction
    with units() as uow:
        repo = SqlAssetRepository(uow, kinds)
        assert repo.find(TENANT, "test_asset", "a1") is None
        assert not repo.get(TENANT, "test_asset", "a1").exists


def test_the_read_model_lists_assets_and_is_rebuilt_by_replay(
    database: Database, units: UnitOfWorkFactory, kinds: AssetKindRegistry, clock: FixedClock
) -> None:
    with units() as uow:
        repo = SqlAssetRepository(uow, kinds)
        for asset_id in ["b2", "a1"]:
            asset = repo.get(TENANT, "test_asset", asset_id)
            asset.edit(ANN, profile(1), META, at=clock.now())
            asset.submit(ANN, at=clock.now())
            asset.approve(CAT, repo.policy(TENANT), at=clock.now())
            asset.publish(OPS, at=clock.now())
            repo.save(asset)
        uow.commit()
    with database.transaction() as session:
        before = [tuple(r) for r in session.execute(select(assets).order_by(assets.c.asset_id))]
        replay(session, [AssetProjection(kinds)])
        after = [tuple(r) for r in session.execute(select(assets).order_by(assets.c.asset_id))]
    assert before == after and len(after) == 2
    with units() as uow:
        listed = SqlAssetRepository(uow, kinds).list(TENANT, "test_asset")
    assert [(r.asset_id, r.state, r.published_version, r.tags) for r in listed] == [
        ("a1", "published", 1, ("b", "a")),
        ("b2", "published", 1, ("b", "a")),
    ]
    assert listed[0].owner == "ann" and len(listed[0].content_hash) == 64


def test_the_frozen_migration_creates_exactly_the_assets_table(database: Database) -> None:
    assert schema_drift(database, tables.metadata) == []
