"""A whole service process in-process: start, consume, relay, serve, and stop on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.js import JetStreamContext
from sqlalchemy import func, select

from services.kernel.config import load_settings
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.runtime import App, Context, Runtime
from services.kernel.store.database import Database
from services.kernel.store.schema import inbox, outbox
from services.kernel.store.unit_of_work import UnitOfWork
from tests.conftest import random_id
from tests.integration.kernel.support import make_message, publish, subject_counts
from tests.polling import eventually
from tests.signing import ENV as SIGNING


async def test_a_service_consumes_relays_serves_and_stops_gracefully_on_sigterm(
    js: JetStreamContext, nats_server: NatsServer, tmp_path: Path, tenant: str
) -> None:
    inbound = f"layercake.{tenant}.identity.asked"
    outbound = f"layercake.{tenant}.identity.answered"

    def answer(uow: UnitOfWork, env: Envelope) -> None:
        uow.publish(make_message(outbound, env.tenant_id, event_id=f"answer-{env.event_id}"))

    app = App(
        name="identity",
        consumers=lambda _ctx: [ConsumerSpec(random_id("rt-"), "IDENTITY", inbound, answer)],
    )
    database_url = f"sqlite:///{tmp_path / 'identity.db'}"
    settings = load_settings(
        "identity",
        SIGNING
        | {
            "LAYERCAKE_IDENTITY_ADDR": "127.0.0.1:0",
            "LAYERCAKE_IDENTITY_METRICS_PORT": "0",
            "LAYERCAKE_IDENTITY_DATABASE_URL": database_url,
            "LAYERCAKE_NATS_URL": nats_server.url,
            "LAYERCAKE_SHUTDOWN_GRACE": "2",
        },
    )
    runtime = Runtime(app, settings)
    serving = asyncio.create_task(runtime.serve())
    try:

        async def started() -> Context | None:
            if serving.done():
                serving.result()  # surfaces a start-up failure
            return runtime.context if runtime.server is not None else None

        ctx = await eventually(started, timeout=10)
        assert runtime.server is not None
        address = f"127.0.0.1:{runtime.server.port}"
        async with grpc.aio.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING

        question = make_message(inbound, tenant)
        await publish(js, question)

        async def answered() -> bool:
            counts = await subject_counts(js, "IDENTITY", outbound)
            return counts == {outbound: 1}

        await eventually(answered, timeout=10)

        # Committed just before the signal: the graceful stop must still publish it.
        late = make_message(outbound, tenant)
        with ctx.uow() as uow:
            uow.publish(late)
            uow.commit()
        loop = asyncio.get_running_loop()
        signalled = loop.time()
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(serving, 15)
        # Within the grace period plus one consumer poll: NATS must not sit out its drain timeout.
        assert loop.time() - signalled < settings.shutdown_grace + 3
    finally:
        if not serving.done():
            runtime.stop_event.set()
            await asyncio.wait_for(serving, 15)

    assert await subject_counts(js, "IDENTITY", outbound) == {outbound: 2}
    assert ctx.nc.is_closed
    db = Database(database_url)
    try:
        with db.transaction() as s:
            assert s.execute(select(func.count()).select_from(outbox)).scalar_one() == 0
            assert s.execute(select(inbox.c.event_id)).scalars().all() == [question.event_id]
    finally:
        db.dispose()


async def test_errors_at_shutdown_are_logged_with_their_cause(
    nats_server: NatsServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        "identity",
        SIGNING
        | {
            "LAYERCAKE_IDENTITY_ADDR": "127.0.0.1:0",
            "LAYERCAKE_IDENTITY_METRICS_PORT": "0",
            "LAYERCAKE_IDENTITY_DATABASE_URL": f"sqlite:///{tmp_path / 'identity.db'}",
            "LAYERCAKE_NATS_URL": nats_server.url,
            "LAYERCAKE_SHUTDOWN_GRACE": "1",
        },
    )
    runtime = Runtime(App(name="identity"), settings)
    await runtime.start()
    assert runtime.relay is not None and runtime.context is not None
    nc = runtime.context.nc

    async def flush() -> int:
        raise RuntimeError("outbox unreachable")

    async def drain() -> None:
        await nc.close()
        raise RuntimeError("drain refused")

    runtime.relay.flush = flush  # type: ignore[method-assign]
    runtime.context.nc.drain = drain  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="services.kernel.runtime"):
        await runtime.stop()
    warnings = {r.getMessage(): r for r in caplog.records if r.levelno == logging.WARNING}
    assert "outbox unreachable" in warnings["outbox flush at shutdown failed"].error  # type: ignore[attr-defined]
    assert "drain refused" in warnings["NATS drain at shutdown failed"].error  # type: ignore[attr-defined]
