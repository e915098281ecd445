"""Broadcast subscriptions against a real nats-server: every replica, in order, no gaps."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from nats.aio.client import Client
from nats.js import JetStreamContext

from services.kernel.messaging import subjects
from services.kernel.messaging.broadcast import Broadcast, BroadcastSpec
from services.kernel.messaging.connection import connect
from services.kernel.messaging.envelope import Envelope, headers_for
from services.kernel.messaging.nats_server import NatsServer, free_port
from services.kernel.messaging.streams import ensure_streams
from services.kernel.store.records import OutboxMessage
from tests.conftest import random_id
from tests.polling import eventually

HEARTBEAT = 0.2  # short, so a lost consumer is noticed quickly


class Cache:
    """What a follower saw, in order; `loads` counts how often it was built from the store."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.loads = 0
        self.on_load: Callable[[], Awaitable[None]] | None = None

    async def handle(self, envelope: Envelope) -> None:
        self.seen.append(envelope.payload.decode())

    async def load(self) -> None:
        self.loads += 1
        if self.on_load is not None:
            await self.on_load()


async def send(js: JetStreamContext, tenant: str, body: str) -> int:
    message = OutboxMessage(
        subject=subjects.integration(tenant, "gateway", "thing_changed"),
        type="layercake.test.ThingChanged",
        payload=body.encode(),
        tenant_id=tenant,
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{body}")),  # a retry is dropped
    )
    ack = await js.publish(
        message.subject, message.payload, headers=headers_for(message, datetime.now(UTC))
    )
    return ack.seq


@asynccontextmanager
async def following(
    nc: Client, js: JetStreamContext, tenant: str, *caches: Cache
) -> AsyncIterator[list[Broadcast]]:
    """Started followers of one tenant's gateway subjects, stopped on exit."""
    stop = asyncio.Event()
    async with AsyncExitStack() as stack:
        followers = []
        for cache in caches:
            spec = BroadcastSpec(
                name="test",
                stream="GATEWAY",
                filter_subject=subjects.integration(tenant, "gateway", ">"),
                handler=cache.handle,
                load=cache.load,
            )
            follower = Broadcast(spec, nc, js, heartbeat=HEARTBEAT, retry_delay=0.1)
            await follower.start()
            task = asyncio.create_task(follower.run(stop))
            stack.push_async_callback(asyncio.wait_for, task, 10)
            followers.append(follower)
        stack.callback(stop.set)
        yield followers


@asynccontextmanager
async def own_nats(tmp_path: Path) -> AsyncIterator[tuple[NatsServer, Client, JetStreamContext]]:
    """A nats-server of the test's own, for tests that restart or purge it."""
    server = NatsServer(tmp_path / "js", port=free_port(), monitor_port=free_port()).start()
    nc = await connect(server.url, "broadcast-test")
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        yield server, nc, js
    finally:
        await nc.close()
        server.stop()


async def saw(cache: Cache, *bodies: str) -> None:
    async def all_seen() -> bool:
        return cache.seen == list(bodies)

    await eventually(all_seen)


async def test_every_follower_sees_every_event_in_order(
    nats_client: Client, js: JetStreamContext
) -> None:
    tenant, first, second = random_id("t"), Cache(), Cache()
    async with following(nats_client, js, tenant, first, second):
        for n in range(5):
            await send(js, tenant, f"e{n}")
        await saw(first, "e0", "e1", "e2", "e3", "e4")
        await saw(second, "e0", "e1", "e2", "e3", "e4")


async def test_starts_after_the_load_and_misses_nothing_recorded_during_it(
    nats_client: Client, js: JetStreamContext
) -> None:
    tenant, cache = random_id("t"), Cache()
    await send(js, tenant, "before")  # in the store when the cache loads

    async def recorded_while_loading() -> None:
        await send(js, tenant, "during")

    cache.on_load = recorded_while_loading
    async with following(nats_client, js, tenant, cache):
        await send(js, tenant, "after")
        await saw(cache, "during", "after")
    assert cache.loads == 1


async def test_a_lost_consumer_is_recreated_from_the_last_event_applied(
    nats_client: Client, js: JetStreamContext
) -> None:
    tenant, cache = random_id("t"), Cache()
    async with following(nats_client, js, tenant, cache) as (follower,):
        await send(js, tenant, "a")
        await saw(cache, "a")
        await js.delete_consumer("GATEWAY", follower._consumer)
        await send(js, tenant, "b")
        await send(js, tenant, "c")
        await saw(cache, "a", "b", "c")
    assert cache.loads == 1  # resumed, not rebuilt


async def test_a_failing_handler_does_not_stop_the_follower(
    nats_client: Client, js: JetStreamContext
) -> None:
    tenant, cache = random_id("t"), Cache()
    handle = cache.handle

    async def fragile(envelope: Envelope) -> None:
        if envelope.payload == b"boom":
            raise RuntimeError("bad cache entry")
        await handle(envelope)

    cache.handle = fragile  # type: ignore[method-assign]
    async with following(nats_client, js, tenant, cache):
        for body in ("a", "boom", "b"):
            await send(js, tenant, body)
        await saw(cache, "a", "b")


async def test_resumes_without_gaps_or_repeats_across_a_nats_restart(tmp_path: Path) -> None:
    async with own_nats(tmp_path) as (server, nc, js):
        tenant, cache = random_id("t"), Cache()
        async with following(nc, js, tenant, cache):
            await send(js, tenant, "a")
            await saw(cache, "a")
            server.stop()
            server.start()

            async def published_again() -> bool:
                try:
                    await send(js, tenant, "b")
                except Exception:
                    return False  # still restarting
                return True

            await eventually(published_again, timeout=20)
            await send(js, tenant, "c")
            await saw(cache, "a", "b", "c")
        assert cache.loads == 1


async def test_reloads_when_the_stream_lost_events_it_had_not_seen(tmp_path: Path) -> None:
    async with own_nats(tmp_path) as (_, nc, js):
        tenant, cache = random_id("t"), Cache()
        async with following(nc, js, tenant, cache) as (follower,):
            await send(js, tenant, "a")
            await saw(cache, "a")
            # as if it had been away while the stream dropped events it never saw
            follower.last_sequence = 0
            await js.purge_stream("GATEWAY")
            await js.delete_consumer("GATEWAY", follower._consumer)

            async def reloaded() -> bool:
                return cache.loads == 2

            await eventually(reloaded)
            await send(js, tenant, "b")
            await saw(cache, "a", "b")
