"""kill -9 in the middle of a stream of writes: every answered write survives, once;
and `make run`'s supervisor brings a killed service back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading

import grpc
import pytest

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import gateway_service_pb2_grpc as ggrpc
from layercake.gateway.v1 import profiles_service_pb2 as ppb
from layercake.gateway.v1 import profiles_service_pb2_grpc as pgrpc
from services.local.supervisor import Backoff, Supervisor
from tests.conftest import random_id
from tests.e2e.conftest import Platform
from tests.e2e.test_walking_skeleton import event
from tests.polling import eventually

pytestmark = pytest.mark.e2e

WRITES = 150


async def test_kill_9_identity_and_gateway_mid_stream(platform: Platform) -> None:
    stack = platform.stack
    run = random_id("r")
    answered: list[str] = []  # cookies whose Ingest was answered OK
    progress = asyncio.Event()

    async def writer() -> None:
        async with grpc.aio.insecure_channel(stack.addr("gateway")) as channel:
            stub = ggrpc.GatewayServiceStub(channel)
            for i in range(WRITES):
                cookie = f"{run}-{i}"
                with contextlib.suppress(grpc.aio.AioRpcError):  # a refused call is not counted
                    await stub.Ingest(
                        gpb.IngestRequest(events=[event(cookie)]),
                        metadata=platform.auth,
                        timeout=5,
                        wait_for_ready=True,
                    )
                    answered.append(cookie)
                if len(answered) in (WRITES // 3, 2 * WRITES // 3):
                    progress.set()

    async def crasher() -> None:
        await progress.wait()
        progress.clear()
        await asyncio.to_thread(stack.kill, "identity")  # mid-consumption
        await asyncio.to_thread(stack.start_service, "identity")
        await progress.wait()
        await asyncio.to_thread(stack.kill, "gateway")  # mid-ingest
        await asyncio.to_thread(stack.start_service, "gateway")

    await asyncio.gather(writer(), crasher())
    assert len(answered) >= WRITES * 0.9  # the writes answered OK are what we hold the system to

    async with grpc.aio.insecure_channel(stack.addr("gateway")) as channel:
        profiles = pgrpc.ProfilesServiceStub(channel)

        async def all_present() -> bool:
            for cookie in answered:
                reply = await profiles.GetProfile(
                    ppb.GetProfileRequest(profile_ref=f"cookie_id:{cookie}"),
                    metadata=platform.auth,
                    timeout=5,
                )
                # exactly the three events one ingest makes (created, consent, received with
                # its identifiers and traits): nothing applied twice
                assert reply.profile.version == 3, (cookie, reply.profile.version)
            return True

        await eventually(all_present, timeout=60)


async def test_make_run_restarts_a_killed_service_and_keeps_the_others(platform: Platform) -> None:
    """`make run`'s supervisor: kill -9 identity, it comes back, ingest -> profile works."""
    stack = platform.stack
    said: list[str] = []
    others = {s: stack.processes[s].pid for s in ("gateway", "orchestrator", "decision")}
    killed = stack.processes["identity"]
    stop = threading.Event()
    supervisor = Supervisor(stack, said.append, Backoff(initial=0.2))
    watching = threading.Thread(target=supervisor.run, args=(stop, 0.1))
    watching.start()
    try:
        os.kill(killed.pid, signal.SIGKILL)

        async def serving_again() -> bool:
            return "identity is serving again" in said

        await eventually(serving_again, timeout=60)
    finally:
        stop.set()
        await asyncio.to_thread(watching.join)
    assert said[0].startswith("identity exited (killed by SIGKILL)")
    assert stack.processes["identity"].pid != killed.pid
    # never restarted: the supervisor restarts only a process that exited (and says so)
    assert {s: stack.processes[s].pid for s in others} == others, said

    cookie = random_id("sup-")
    async with grpc.aio.insecure_channel(stack.addr("gateway")) as channel:
        stub = ggrpc.GatewayServiceStub(channel)
        profiles = pgrpc.ProfilesServiceStub(channel)
        await stub.Ingest(
            gpb.IngestRequest(events=[event(cookie)]), metadata=platform.auth, timeout=10
        )

        async def profile() -> bool:
            reply = await profiles.GetProfile(
                ppb.GetProfileRequest(profile_ref=f"cookie_id:{cookie}"),
                metadata=platform.auth,
                timeout=5,
            )
            return reply.profile.version > 0

        await eventually(profile, timeout=30)
