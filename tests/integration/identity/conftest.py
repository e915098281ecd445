from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select, Update, text

from services.identity.bootstrap import MIGRATIONS
from services.identity.store.audiences import AudienceProjection
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.projection import ProfileProjection
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.kernel.assets.projection import AssetProjection
from services.kernel.clock import Clock, SystemClock
from services.kernel.store.database import Database
from services.kernel.store.limits import DEFAULT_LIMITS, StoreLimits
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import migrated_database

identity_db = migrated_database(MIGRATIONS)


@pytest.fixture
def identity_keys(tmp_path: Path) -> Iterator[SqlProfileKeys]:
    """Identity's key store: a SQLite file of its own, apart from the database."""
    keys = SqlProfileKeys.open(f"sqlite:///{tmp_path / 'identity-keys.db'}")
    yield keys
    keys.close()


def identity_units(
    db: Database,
    keys: SqlProfileKeys,
    limits: StoreLimits = DEFAULT_LIMITS,
    clock: Clock | None = None,
) -> UnitOfWorkFactory[SqlIdentityUnitOfWork]:
    """Identity's units of work as the service makes them: bound to `keys`, projecting."""
    return UnitOfWorkFactory(
        db.sessions,
        clock or SystemClock(),
        [ProfileProjection(keys), AudienceProjection(), AssetProjection()],
        None,
        limits,
        kind=SqlIdentityUnitOfWork.with_keys(keys),
    )


@pytest.fixture
def identity_uow(
    identity_db: Database, identity_keys: SqlProfileKeys
) -> UnitOfWorkFactory[SqlIdentityUnitOfWork]:
    return identity_units(identity_db, identity_keys)


def query_plan(
    db: Database, query: Select[Any] | Update, seqscan: bool = True
) -> tuple[str, str, str]:
    """(dialect, plan, PostgreSQL's Index Cond bare of parentheses and casts) of `query`,
    after ANALYZE; `seqscan=False` shows PostgreSQL's index plan for a small table."""
    with db.transaction() as s:
        s.execute(text("ANALYZE"))
        dialect = s.get_bind().dialect
        sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if dialect.name == "sqlite":
            plan = " ".join(r[-1] for r in s.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
            return dialect.name, plan, ""
        if not seqscan:
            s.execute(text("SET LOCAL enable_seqscan = off"))
        plan = " ".join(r[0] for r in s.execute(text(f"EXPLAIN {sql}")))
    return dialect.name, plan, re.sub(r"[()]|::text", "", plan.partition("Index Cond:")[2])
