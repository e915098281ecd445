"""Fixtures every test level shares: a real nats-server, real databases, ids."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from sqlalchemy import text

from services.kernel.messaging.connection import connect
from services.kernel.messaging.nats_server import NatsServer, free_port
from services.kernel.messaging.streams import ensure_streams
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate

POSTGRES_URL = os.environ.get("LAYERCAKE_TEST_POSTGRES_URL", "")


def random_id(prefix: str = "") -> str:
    """A fresh id for a test's tenant, stream or message."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One real nats-server with JetStream for the whole session, on free ports."""
    root = tmp_path_factory.mktemp("nats")
    server = NatsServer(root / "js", port=free_port(), monitor_port=free_port()).start()
    yield server
    server.stop()


@pytest.fixture
async def nats_client(nats_server: NatsServer) -> AsyncIterator[Client]:
    nc = await connect(nats_server.url, "tests")
    yield nc
    await nc.close()


@pytest.fixture
async def js(nats_client: Client) -> JetStreamContext:
    context = nats_client.jetstream()
    await ensure_streams(context)
    return context


def _postgres_database(migrations: Path | None, target: str = "heads") -> Iterator[Database]:
    """A fresh PostgreSQL schema per test, migrated up to `target` ('' for none), dropped
    afterwards."""
    schema = random_id("t_")
    admin = Database(POSTGRES_URL, workers=1)
    with admin.engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = POSTGRES_URL + ("&" if "?" in POSTGRES_URL else "?") + f"options=-csearch_path%3D{schema}"
    db = Database(url)
    if target:
        migrate(db.engine, migrations, target)
    try:
        yield db
    finally:
        db.dispose()
        with admin.engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextlib.contextmanager
def sql_database(
    kind: str, root: Path, migrations: Path | None, target: str = "heads"
) -> Iterator[Database]:
    """A database migrated up to `target` ('' leaves it empty): "sqlite" under `root`, or
    "postgres" in a fresh schema (skipped when LAYERCAKE_TEST_POSTGRES_URL is not set)."""
    if kind == "sqlite":
        db = Database(f"sqlite:///{root / 'service.db'}")
        if target:
            migrate(db.engine, migrations, target)
        try:
            yield db
        finally:
            db.dispose()
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need LAYERCAKE_TEST_POSTGRES_URL (CI sets it)")
    yield from _postgres_database(migrations, target)


SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
ALL_BACKENDS = ["memory", *SQL_BACKENDS]


def migrated_database(migrations: Path | None, target: str = "heads") -> Any:
    """A fixture: a database migrated with the kernel's and (given) a service's revisions
    up to `target` ('' leaves it empty), on SQLite and, when LAYERCAKE_TEST_POSTGRES_URL
    is set, PostgreSQL."""

    @pytest.fixture(params=SQL_BACKENDS)
    def fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
        with sql_database(request.param, tmp_path, migrations, target) as db:
            yield db

    return fixture


database = migrated_database(None)
