"""A service tells its health by its event log: NOT_SERVING while NATS is gone."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.kernel.config import load_settings
from services.kernel.messaging.nats_server import NatsServer, free_port
from services.kernel.rpc.server import Server
from services.kernel.runtime import App, Runtime
from tests.polling import eventually
from tests.signing import ENV as SIGNING

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_health_follows_the_nats_connection(tmp_path: Path) -> None:
    nats = NatsServer(tmp_path / "js", port=free_port(), monitor_port=free_port()).start()
    settings = load_settings(
        "decision",
        SIGNING
        | {
            "LAYERCAKE_DECISION_ADDR": "127.0.0.1:0",
            "LAYERCAKE_DECISION_METRICS_PORT": "0",
            "LAYERCAKE_DECISION_DATABASE_URL": f"sqlite:///{tmp_path / 'decision.db'}",
            "LAYERCAKE_NATS_URL": nats.url,
            "LAYERCAKE_SHUTDOWN_GRACE": "1",
        },
    )
    runtime = Runtime(App(name="decision"), settings)
    serving = asyncio.create_task(runtime.serve())
    try:

        async def started() -> Server | None:
            if serving.done():
                serving.result()  # surfaces a start-up failure
            return runtime.server

        server = await eventually(started, timeout=15)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)

            async def status_is(wanted: int) -> bool:
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                return reply.status == wanted

            await eventually(lambda: status_is(SERVING), timeout=10)
            await asyncio.to_thread(nats.stop)
            await eventually(lambda: status_is(NOT_SERVING), timeout=10)
            await asyncio.to_thread(nats.start)
            await eventually(lambda: status_is(SERVING), timeout=20)
    finally:
        runtime.stop_event.set()
        await asyncio.wait_for(serving, timeout=30)
        nats.stop()


async def test_a_held_metrics_port_fails_the_start_before_it_ever_says_serving(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """`wait_serving` or a supervisor that saw SERVING must not then see the process die of a
    port it could not bind (under load another process may take a freed port)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        settings = load_settings(
            "decision",
            SIGNING
            | {
                "LAYERCAKE_DECISION_ADDR": "127.0.0.1:0",
                "LAYERCAKE_DECISION_METRICS_PORT": str(held.getsockname()[1]),
                "LAYERCAKE_DECISION_DATABASE_URL": f"sqlite:///{tmp_path / 'decision.db'}",
                "LAYERCAKE_NATS_URL": nats_server.url,
            },
        )
        runtime = Runtime(App(name="decision"), settings)
        with pytest.raises(OSError):
            await asyncio.wait_for(runtime.serve(), timeout=30)
    assert runtime.server is None and runtime.context is None  # nothing started, nothing said
