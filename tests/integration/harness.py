"""Helpers for service integration tests: migrated databases, JetStream, gRPC, a runtime."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from nats.js import JetStreamContext
from sqlalchemy import MetaData, event
from sqlalchemy.orm import Session

from services.kernel.config import ServiceSettings, load_settings
from services.kernel.messaging import subjects
from services.kernel.messaging.consumer import ConsumerRunner, ConsumerSpec, Result
from services.kernel.messaging.envelope import MSG_ID, headers_for
from services.kernel.rpc.server import Servicer, create_server
from services.kernel.runtime import App, Runtime
from services.kernel.store.database import Database
from services.kernel.store.records import OutboxMessage
from tests.conftest import random_id
from tests.signing import ENV as SIGNING
from tests.signing import INTERNAL, signed_channel


def schema_drift(db: Database, metadata: MetaData) -> list[Any]:
    """Differences between the migrated schema and a service's tables module, so a
    revision and the tables it should create cannot drift apart (kernel tables aside)."""

    def ours(name: str | None, kind: str, parents: dict[str, str | None]) -> bool:
        if kind == "schema":
            return True
        table = name if kind == "table" else parents.get("table_name")
        return table in metadata.tables

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": ours})
        return list(compare_metadata(context, metadata))


async def publish(js: JetStreamContext, message: OutboxMessage) -> None:
    """Publishes as the outbox relay does, but with a fresh `Nats-Msg-Id`, so a repeated
    `ce-id` reaches the consumer (as after JetStream's duplicate window)."""
    headers = headers_for(message, datetime.now(UTC))
    headers[MSG_ID] = str(uuid.uuid4())
    await js.publish(message.subject, message.payload, headers=headers)


def explain(db: Database, run: Callable[[Session], object], analyze: str) -> str:
    """The backend's plan for the one statement `run` executes (rolled back afterwards);
    on PostgreSQL the `analyze` table's statistics are refreshed first."""
    executed: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        executed.append((args[2], args[3]))  # statement, parameters

    with db.sessions() as session, session.begin():
        connection = session.connection()
        if not db.is_sqlite:
            connection.exec_driver_sql(f"ANALYZE {analyze}")
        event.listen(connection, "before_cursor_execute", capture)
        run(session)
        event.remove(connection, "before_cursor_execute", capture)
        [(statement, parameters)] = executed
        prefix = "EXPLAIN QUERY PLAN" if db.is_sqlite else "EXPLAIN"
        rows = connection.exec_driver_sql(f"{prefix} {statement}", parameters).all()
        session.rollback()
    return "\n".join(str(r[-1]) for r in rows)


def isolated(spec: ConsumerSpec, tenant_id: str, producer: str = "identity") -> ConsumerSpec:
    """The same consumer under a fresh durable name, reading one tenant's messages only,
    so tests sharing the session's nats-server never see each other's messages."""
    _, _, _, event = spec.filter_subject.split(".", 3)
    return dataclasses.replace(
        spec,
        durable=random_id(f"{spec.durable}-"),
        filter_subject=subjects.integration(tenant_id, producer, event),
    )


async def consume(runner: ConsumerRunner, count: int, timeout: float = 10.0) -> list[Result]:
    """Runs the consumer until `count` messages were settled, or fails at the deadline."""
    results: list[Result] = []
    deadline = time.monotonic() + timeout
    while len(results) < count:
        assert time.monotonic() < deadline, f"{len(results)} of {count} messages consumed"
        results += await runner.run_once(timeout=0.5)
    return results


@asynccontextmanager
async def serving(*servicers: Servicer) -> AsyncIterator[grpc.aio.Channel]:
    """A real grpc.aio server with the kernel's interceptors on a free port, checking the
    gateway's signature as an internal service does, and a channel signing as the gateway
    does for the tenant each request names."""
    server = create_server("127.0.0.1:0", servicers, internal=INTERNAL)
    await server.server.start()
    try:
        async with signed_channel(f"127.0.0.1:{server.port}") as channel:
            yield channel
    finally:
        await server.server.stop(None)


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    """The fields a google.rpc.BadRequest detail of a failed call names."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    fields: list[str] = []
    for detail in status.details if status else []:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields += [v.field for v in bad.field_violations]
    return fields


@asynccontextmanager
async def running(
    service: str,
    build: Callable[[ServiceSettings], App],
    nats_url: str,
    state_dir: Path,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[Runtime]:
    """A service as `python -m services.<name>` runs it, on SQLite and a free gRPC port;
    `env` adds settings (the addresses of its peers)."""
    settings = load_settings(
        service,
        {
            **SIGNING,
            **(env or {}),
            "LAYERCAKE_NATS_URL": nats_url,
            "LAYERCAKE_STATE_DIR": str(state_dir),
            f"LAYERCAKE_{service.upper()}_ADDR": "127.0.0.1:0",
            f"LAYERCAKE_{service.upper()}_METRICS_PORT": "0",
            "LAYERCAKE_SHUTDOWN_GRACE": "2",
        },
    )
    runtime = Runtime(build(settings), settings)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
