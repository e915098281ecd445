"""What the asset lifecycle contract runs on: principals, and one asset kind's repository
(in memory, SQLite or PostgreSQL) driven through the kernel's asset handlers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from services.kernel.assets import Action, Asset, AssetKind, AssetKindRegistry, AssetMetadata
from services.kernel.assets.handlers import edit_asset, set_asset_policy, transition_asset
from services.kernel.assets.memory import InMemoryAssetRepository
from services.kernel.assets.policy import TenantAssetPolicy
from services.kernel.assets.projection import AssetProjection
from services.kernel.assets.repository import AssetRecord, AssetRepository, SqlAssetRepository
from services.kernel.clock import FixedClock
from services.kernel.principals import Actor, Principal, PrincipalKind, Role
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import POSTGRES_URL, _postgres_database

TENANT = "acme"
BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def person(name: str, *roles: Role, tenant: str = TENANT) -> Principal:
    return Principal(tenant, Actor(name, PrincipalKind.PERSON), frozenset(roles))


ANN = person("ann", Role.EDITOR, Role.APPROVER)
BOB = person("bob", Role.EDITOR, Role.APPROVER)
CAT = person("cat", Role.APPROVER)
OPS = person("ops", Role.OPERATOR)
ROOT = person("root", Role.ADMIN)
VIC = person("vic", Role.VIEWER)
BOT = Principal(TENANT, Actor.system("bot"), frozenset({Role.APPROVER, Role.EDITOR}))

Unit = Callable[[], contextlib.AbstractContextManager[AssetRepository]]


@dataclass
class Assets:
    """One kind's assets: each call is its own committed unit of work, a second apart."""

    unit: Unit
    kind: AssetKind
    content: Callable[[int], Message]
    metadata: Callable[[], AssetMetadata]
    clock: FixedClock = field(default_factory=lambda: FixedClock(datetime(2026, 3, 1, tzinfo=UTC)))

    def now(self) -> datetime:
        self.clock.advance(timedelta(seconds=1))
        return self.clock.now()

    def load(self, asset_id: str) -> Asset:
        with self.unit() as repo:
            return repo.get(TENANT, self.kind.name, asset_id)

    def record(self, asset_id: str) -> AssetRecord | None:
        with self.unit() as repo:
            return repo.find(TENANT, self.kind.name, asset_id)

    def policy(self) -> TenantAssetPolicy:
        with self.unit() as repo:
            return repo.policy(TENANT)

    def save(self, asset: Asset) -> None:
        with self.unit() as repo:
            repo.save(asset)

    def edit(self, asset_id: str, n: int, who: Principal = ANN, **kw: Any) -> int:
        """Saves content `n` (with `meta=` or the full metadata); returns the version."""
        meta = kw.pop("meta", None) or self.metadata()
        with self.unit() as repo:
            asset = edit_asset(
                repo, who, self.kind.name, asset_id, self.content(n), meta, at=self.now(), **kw
            )
        return asset.history[-1].version

    def do(self, asset_id: str, action: Action, who: Principal, **kw: Any) -> Asset:
        with self.unit() as repo:
            return transition_asset(
                repo, who, self.kind.name, asset_id, action, at=self.now(), **kw
            )

    def publish_new(self, asset_id: str, n: int) -> int:
        """Content `n` edited by ann, approved by cat, published by ops."""
        version = self.edit(asset_id, n)
        self.do(asset_id, Action.SUBMIT, ANN)
        self.do(asset_id, Action.APPROVE, CAT)
        self.do(asset_id, Action.PUBLISH, OPS)
        return version

    def set_four_eyes(self, on: bool) -> None:
        with self.unit() as repo:
            set_asset_policy(repo, ROOT, four_eyes=on, at=self.now(), reason="test policy")


@contextlib.contextmanager
def open_assets(backend: str, tmp_path: Path, **kind: Any) -> Iterator[Assets]:
    """Assets of `kind` (an Assets minus `unit`) on a fresh repository of `backend`."""
    kinds = AssetKindRegistry()
    kinds.register(kind["kind"])
    if backend == "memory":
        repo = InMemoryAssetRepository(kinds)

        @contextlib.contextmanager
        def memory_unit() -> Iterator[AssetRepository]:
            yield repo

        yield Assets(memory_unit, **kind)
        return
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            db = Database(f"sqlite:///{tmp_path / 'assets.db'}")
            stack.callback(db.dispose)
            migrate(db.engine)
        else:
            if not POSTGRES_URL:
                pytest.skip("PostgreSQL tests need LAYERCAKE_TEST_POSTGRES_URL (CI sets it)")
            databases = _postgres_database(None)
            db = next(databases)
            stack.callback(lambda: next(databases, None))
        clock = FixedClock(datetime(2026, 3, 1, tzinfo=UTC))
        units = UnitOfWorkFactory(db.sessions, clock, [AssetProjection(kinds)])

        @contextlib.contextmanager
        def sql_unit() -> Iterator[AssetRepository]:
            with units() as uow:
                yield SqlAssetRepository(uow, kinds)
                uow.commit()

        yield Assets(sql_unit, clock=clock, **kind)
