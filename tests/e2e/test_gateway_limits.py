"""The gateway as processes: two replicas hold one key's rate limit together, and a stopped
or hung identity service makes GetProfile fail fast (UNAVAILABLE or DEADLINE_EXCEEDED within
the caller's deadline, never a hang), then work again once identity is back."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import pytest

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import gateway_service_pb2_grpc as ggrpc
from layercake.gateway.v1 import profiles_service_pb2 as ppb
from layercake.gateway.v1 import profiles_service_pb2_grpc as pgrpc
from services.local.stack import DEMO_TENANT, LocalStack, Ports
from tests.e2e.test_forget import person_event
from tests.polling import eventually

pytestmark = pytest.mark.e2e

BURST = 40
LIMITS = {
    "LAYERCAKE_GATEWAY_RATE_LIMIT": "0.01",  # next to no refill while the test runs
    "LAYERCAKE_GATEWAY_RATE_BURST": str(BURST),
    "LAYERCAKE_GATEWAY_MAX_BATCH": "10",
}
DEADLINE = 5.0
ADMIN = (sys.executable, "-m", "services.gateway.admin")
SCOPES = ("--scopes", "ingest,profiles:read")


@dataclasses.dataclass
class Replicas:
    stack: LocalStack  # two gateway processes (`gateway`, `gateway-2`): one database and NATS

    def auth(self) -> tuple[tuple[str, str], ...]:
        """A new key of the demo tenant's admin (its own full bucket), as the operator issues it."""
        issued = subprocess.run(
            [*ADMIN, "issue-key", "--tenant", DEMO_TENANT, "--principal", "admin", *SCOPES],
            env=self.stack.env(),
            check=True,
            capture_output=True,
            text=True,
        )
        return (("authorization", f"Bearer {issued.stdout.strip()}"),)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    stack = LocalStack(
        tmp_path_factory.mktemp("stack"), Ports.free(), LIMITS, replicas={"gateway": 2}
    )
    try:
        stack.start_nats()
        stack.ensure_demo_tenant()
        for service in ("identity", "gateway", "gateway-2"):
            stack.start_service(service)
        yield Replicas(stack)
    finally:
        stack.stop()


async def ingest_one(stub: ggrpc.GatewayServiceStub, auth: tuple[tuple[str, str], ...]) -> bool:
    """True when admitted; False when refused for the key's rate."""
    event = person_event("r@example.com", "+14155550100", "Rae", "ck-r")
    try:
        await stub.Ingest(gpb.IngestRequest(events=[event]), metadata=auth, timeout=DEADLINE)
    except grpc.aio.AioRpcError as e:
        assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
        return False
    return True


async def test_two_gateway_processes_hold_one_keys_rate_together(replicas: Replicas) -> None:
    async with (
        grpc.aio.insecure_channel(replicas.stack.addr("gateway")) as a,
        grpc.aio.insecure_channel(replicas.stack.addr("gateway-2")) as b,
    ):
        stubs = [ggrpc.GatewayServiceStub(a), ggrpc.GatewayServiceStub(b)]
        auth = await asyncio.to_thread(replicas.auth)
        admitted = [await ingest_one(stubs[i % 2], auth) for i in range(2 * BURST)]
    per_replica = [sum(admitted[i::2]) for i in range(2)]
    assert sum(admitted) <= BURST + 1  # one bucket for the key, not one per replica
    assert all(n > 0 for n in per_replica), per_replica  # both served it
    assert not any(admitted[-10:])  # and both refuse it now


async def profile_error(
    stub: pgrpc.ProfilesServiceStub, auth: tuple[tuple[str, str], ...]
) -> tuple[grpc.StatusCode, float]:
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await stub.GetProfile(
            ppb.GetProfileRequest(profile_ref="cookie_id:ck-nobody"),
            metadata=auth,
            timeout=DEADLINE,
        )
    return failed.value.code(), time.monotonic() - started


async def test_a_stopped_or_hung_identity_fails_fast_and_recovers(replicas: Replicas) -> None:
    stack = replicas.stack
    async with grpc.aio.insecure_channel(stack.addr("gateway")) as channel:
        stub = pgrpc.ProfilesServiceStub(channel)

        async def answered() -> None:
            """Waits until identity answers through the gateway (each wait on a fresh key:
            every probe costs a token of the module's small burst)."""
            auth = await asyncio.to_thread(replicas.auth)

            async def probe() -> bool:
                try:
                    await stub.GetProfile(
                        ppb.GetProfileRequest(profile_ref="cookie_id:ck-nobody"),
                        metadata=auth,
                        timeout=DEADLINE,
                    )
                except grpc.aio.AioRpcError as e:
                    return e.code() == grpc.StatusCode.NOT_FOUND  # identity answered
                return True

            await eventually(probe, timeout=30, interval=1.0)

        auth = await asyncio.to_thread(replicas.auth)
        await answered()
        await asyncio.to_thread(stack.stop_service, "identity")
        code, took = await profile_error(stub, auth)
        assert code == grpc.StatusCode.UNAVAILABLE
        assert took < DEADLINE  # told, not left waiting out its own deadline

        await asyncio.to_thread(stack.start_service, "identity")
        await answered()

        hung = stack.processes["identity"]
        os.kill(hung.pid, signal.SIGSTOP)  # accepts connections, answers nothing
        try:
            code, took = await profile_error(stub, auth)
        finally:
            os.kill(hung.pid, signal.SIGCONT)
        assert code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE)
        assert took < DEADLINE + 1  # the gateway's own deadline, at most the caller's
        await answered()
