"""Two gateway processes on one database: a key revoked anywhere stops working on both, and
a role revoked anywhere narrows its principal's keys on both."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import json_format

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import gateway_service_pb2_grpc as ggrpc
from layercake.gateway.v1 import ingest_pb2
from services.kernel.messaging.nats_server import free_port
from services.local.stack import DEMO_TENANT, LocalStack, Ports
from tests.conftest import random_id
from tests.polling import eventually


@dataclass
class TwoGateways:
    stack: LocalStack  # nats-server and two gateway processes on one database and NATS

    @property
    def first(self) -> str:
        return self.stack.addr("gateway")

    @property
    def second(self) -> str:
        return self.stack.addr("gateway-2")

    def admin(self, *args: str, nats_url: str = "") -> str:
        env = self.stack.env() | ({"LAYERCAKE_NATS_URL": nats_url} if nats_url else {})
        done = subprocess.run(
            [sys.executable, "-m", "services.gateway.admin", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def new_key(self) -> tuple[str, str]:
        key = self.admin(
            "issue-key", "--tenant", DEMO_TENANT, "--principal", "admin", "--scopes", "ingest"
        )
        return key, key.split("_")[1]


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoGateways]:
    stack = LocalStack(tmp_path_factory.mktemp("gateways"), Ports.free(), replicas={"gateway": 2})
    try:
        stack.start_nats()
        stack.ensure_demo_tenant()
        stack.start_service("gateway")
        stack.start_service("gateway-2")
        yield TwoGateways(stack)
    finally:
        stack.stop()


async def ingest(gateway: str, key: str) -> grpc.StatusCode:
    event = json_format.ParseDict(
        {
            "message_id": random_id("m-"),
            "type": "track",
            "event": "page_viewed",
            "timestamp": "2026-03-01T12:00:00Z",
            "identifiers": {"cookie_id": "ck-1"},
        },
        ingest_pb2.IngestEvent(),
    )
    async with grpc.aio.insecure_channel(gateway) as channel:
        stub = ggrpc.GatewayServiceStub(channel)
        try:
            await stub.Ingest(
                gpb.IngestRequest(events=[event]),
                metadata=(("authorization", f"Bearer {key}"),),
                timeout=10,
            )
        except grpc.aio.AioRpcError as e:
            return e.code()
    return grpc.StatusCode.OK


async def refused_on(
    gateway: str, key: str, code: grpc.StatusCode = grpc.StatusCode.UNAUTHENTICATED
) -> float:
    """Seconds until the gateway at `gateway` refuses `key` with `code` (printed, never
    asserted)."""
    start = time.monotonic()

    async def refused() -> bool:
        return await ingest(gateway, key) == code

    await eventually(refused, timeout=15, interval=0.02)
    return time.monotonic() - start


async def test_a_key_revoked_by_the_admin_command_is_refused_by_both_gateways(
    gateways: TwoGateways,
) -> None:
    key, key_id = gateways.new_key()
    # both caches hold the key
    assert await ingest(gateways.first, key) == grpc.StatusCode.OK
    assert await ingest(gateways.second, key) == grpc.StatusCode.OK
    gateways.admin("revoke-key", "--tenant", DEMO_TENANT, "--key-id", key_id)
    print(f"refused by the second gateway {await refused_on(gateways.second, key):.3f}s later")
    assert await ingest(gateways.first, key) == grpc.StatusCode.UNAUTHENTICATED


async def test_without_nats_the_admin_leaves_the_revocation_to_a_gateway_relay(
    gateways: TwoGateways,
) -> None:
    key, key_id = gateways.new_key()
    assert await ingest(gateways.first, key) == grpc.StatusCode.OK
    assert await ingest(gateways.second, key) == grpc.StatusCode.OK
    dead_nats = f"nats://127.0.0.1:{free_port()}"
    gateways.admin("revoke-key", "--tenant", DEMO_TENANT, "--key-id", key_id, nats_url=dead_nats)
    print(f"refused by the second gateway {await refused_on(gateways.second, key):.3f}s later")
    assert await ingest(gateways.first, key) == grpc.StatusCode.UNAUTHENTICATED


async def test_a_role_revoked_by_the_admin_command_narrows_the_key_on_both_gateways(
    gateways: TwoGateways,
) -> None:
    editor = random_id("ed-")
    tenant = ("--tenant", DEMO_TENANT, "--principal", editor)
    gateways.admin("create-principal", *tenant, "--kind", "system", "--roles", "editor")
    key = gateways.admin("issue-key", *tenant)
    assert await ingest(gateways.first, key) == grpc.StatusCode.OK
    assert await ingest(gateways.second, key) == grpc.StatusCode.OK
    gateways.admin("revoke-role", *tenant, "--role", "editor")
    denied = grpc.StatusCode.PERMISSION_DENIED
    print(f"narrowed on the second gateway {await refused_on(gateways.second, key, denied):.3f}s")
    assert await ingest(gateways.first, key) == denied
