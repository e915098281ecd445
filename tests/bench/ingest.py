"""Figure 10: ingest through a real gateway (its gRPC server, gatekeeper, validation, group
commit, dedupe store on SQLite, JetStream with `sync_interval: always`), as batches of 100,
as single events 16 in flight, and as Segment batches of 100 through the HTTP door; beside
raw pipelined JetStream publishes of one event each (the per-event fsync limit the batches
must beat) and a bare grpc.aio echo at 16 in flight (the transport limit singles are held
to). Every event has a fresh message id, so each is accepted and written."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import grpc
from google.protobuf import json_format
from nats.aio.client import Client

from layercake.events.v1 import ingest_pb2
from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import gateway_service_pb2_grpc as ggrpc
from layercake.gateway.v1.ingest_pb2 import IngestEvent
from services.gateway import handlers
from services.gateway.bootstrap import MIGRATIONS, PROJECTIONS, Gateway
from services.gateway.config import GatewayConfig
from services.gateway.domain.commands import EnsureTenant
from services.gateway.store.unit_of_work import SqlGatewayUnitOfWork
from services.kernel.clock import SystemClock
from services.kernel.config import load_settings
from services.kernel.principals import Actor
from services.kernel.rpc.server import create_server
from services.kernel.runtime import Context
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.bench.measures import WARM_UP, Measure, RawPublish, Tick
from tests.bench.models import ECHO, _Concurrent, echo_channel
from tests.signing import ENV as SIGNING

if TYPE_CHECKING:  # the harness imports this module
    from tests.bench.harness import Comparison, Sizes, Steps

TENANT = "benchingest"
BATCH = 100
BATCH_CONCURRENCY = 4  # a sender with a few batches in flight
SINGLE_CONCURRENCY = 16
TEMPLATES = 500


def event_body(i: int) -> dict[str, Any]:
    """A typical partner event (the README's shape), with a fresh message id."""
    return {
        "message_id": f"{uuid.uuid4()}",
        "type": "track",
        "event": "page_viewed",
        "timestamp": "2026-03-01T12:00:00Z",
        "identifiers": {"cookie_id": f"ck-{i % 5000}", "email": f"p{i % 5000}@example.com"},
        "traits": {"first_name": "Ann", "store_id": f"s-{i % 40}"},
        "properties": {"page": "March Madness Deals", "position": i % 10},
        "context": {"channel": "mobile_app", "ip": "203.0.113.9", "timezone": "America/Chicago"},
        "consent": {"email_marketing": True},
    }


def event(i: int) -> IngestEvent:
    return json_format.ParseDict(event_body(i), IngestEvent())


def segment_message(i: int) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "page_viewed",
        "messageId": f"{uuid.uuid4()}",
        "anonymousId": f"anon-{i % 5000}",
        "userId": f"u-{i % 5000}",
        "timestamp": "2026-03-01T12:00:00Z",
        "properties": {"page": "March Madness Deals", "position": i % 10},
        "context": {"ip": "203.0.113.9", "timezone": "America/Chicago"},
    }


def stored_payload() -> bytes:
    """One event as INGEST stores it: what the raw per-event publish sends."""
    carried = ingest_pb2.IngestEvent.FromString(event(0).SerializeToString())
    return ingest_pb2.EventIngested(tenant_id=TENANT, event=carried).SerializeToString()


@dataclass
class PerEvent:
    """Counts events, not calls: each call carries `per_call` events."""

    calls: _Concurrent
    per_call: int

    @property
    def latencies(self) -> list[float]:
        return self.calls.latencies

    async def round(self, n: int) -> Measure:
        measured = await self.calls.round(max(1, n // self.per_call))
        return Measure(measured.count * self.per_call, measured.seconds)


@asynccontextmanager
async def ingest_meters(
    root: Path, nc: Client, ticks: Callable[[str, int], Tick]
) -> AsyncIterator[dict[str, PerEvent]]:
    """(`ticks(name, events_per_call)` makes a progress bar counting calls.)"""
    """A gateway on a fresh SQLite store and the bench's NATS, its HTTP door, and an echo
    server; a meter per path (in events)."""
    db = Database(f"sqlite:///{root / 'gateway.db'}")
    migrate(db.engine, MIGRATIONS)
    units = UnitOfWorkFactory(db.sessions, SystemClock(), PROJECTIONS, kind=SqlGatewayUnitOfWork)
    with units() as uow:
        issued, _ = handlers.ensure_tenant(
            uow, EnsureTenant(TENANT, "admin", ()), Actor.system("bench")
        )
    settings = load_settings(
        "gateway",
        SIGNING | {"LAYERCAKE_STATE_DIR": str(root), "LAYERCAKE_RPC_TIMEOUT": "10"},
    )
    unlimited = GatewayConfig(rate_limit=1e9, rate_burst=1e9, http_addr="127.0.0.1:0")
    wiring = Gateway(unlimited)
    ctx = Context(settings, db, units, SystemClock(), nc, nc.jetstream())
    async with AsyncExitStack() as stack:
        stack.callback(db.dispose)
        server = create_server("127.0.0.1:0", wiring.servicers(ctx), 30.0)
        await server.server.start()
        stack.push_async_callback(server.server.stop, None)
        stack.push_async_callback(wiring.stop, ctx)
        http = await wiring.start_http()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        stack.push_async_callback(channel.close, None)
        stub = ggrpc.GatewayServiceStub(channel)
        session = await stack.enter_async_context(aiohttp.ClientSession())
        echo = await stack.enter_async_context(echo_channel())
        auth = (("x-api-key", issued.text),)
        basic = "Basic " + base64.b64encode(f"{issued.text}:".encode()).decode()
        singles = [gpb.IngestRequest(events=[event(i)]).ByteSize() for i in range(4)]
        echo_payload = b"x" * max(singles)
        echo_call = echo.unary_unary(ECHO)
        counter = iter(range(10**9))
        templates = [event(i) for i in range(TEMPLATES)]  # parsed once, outside the clock

        def fresh() -> IngestEvent:
            """A template under a new message id: the client's cost kept small."""
            made = IngestEvent()
            made.CopyFrom(templates[next(counter) % TEMPLATES])
            made.message_id = str(uuid.uuid4())
            return made

        async def batch(_: int) -> None:
            events = [fresh() for _ in range(BATCH)]
            reply = await stub.Ingest(gpb.IngestRequest(events=events), metadata=auth, timeout=30)
            _check(len(reply.results), reply.results)

        async def single(_: int) -> None:
            reply = await stub.Ingest(
                gpb.IngestRequest(events=[fresh()]), metadata=auth, timeout=30
            )
            _check(1, reply.results)

        async def door(_: int) -> None:
            body = {"batch": [segment_message(next(counter)) for _ in range(BATCH)]}
            async with session.post(
                f"http://{http}/v1/batch", json=body, headers={"Authorization": basic}
            ) as response:
                if response.status != 200:
                    raise RuntimeError(f"the HTTP door answered {response.status}")

        async def echoed(_: int) -> None:
            await echo_call(echo_payload, metadata=auth, timeout=10)

        for i in range(WARM_UP):
            await batch(i)
            await single(i)
            await door(i)
            await echoed(i)
        yield {
            "Ingest batch of 100": PerEvent(
                _Concurrent(batch, BATCH_CONCURRENCY, ticks("[10] Ingest, batches of 100", BATCH)),
                BATCH,
            ),
            "Ingest single c=16": PerEvent(
                _Concurrent(single, SINGLE_CONCURRENCY, ticks("[10] Ingest, single, c=16", 1)), 1
            ),
            "HTTP /v1/batch of 100": PerEvent(
                _Concurrent(
                    door, BATCH_CONCURRENCY, ticks("[10] HTTP door, batches of 100", BATCH)
                ),
                BATCH,
            ),
            "grpc.aio echo c=16": PerEvent(
                _Concurrent(echoed, SINGLE_CONCURRENCY, ticks("[10] grpc.aio echo c=16", 1)), 1
            ),
        }


def _check(expected: int, results: Any) -> None:
    accepted = sum(r.status == gpb.IngestResult.STATUS_ACCEPTED for r in results)
    if accepted != expected:
        raise RuntimeError(f"{accepted} of {expected} events accepted")


async def figure_10(
    root: Path, nc: Client, sizes: Sizes, steps: Steps
) -> tuple[list[Comparison], dict[str, str]]:
    """Ingest through the gateway beside raw per-event publishes and the echo at 16."""
    from tests.bench.harness import Comparison, interleave, latency_note

    events, singles = sizes.ingest_events, sizes.ingest_singles
    plan: dict[str, int] = {
        "Ingest batch of 100": events,
        "Ingest single c=16": singles,
        "HTTP /v1/batch of 100": events,
        "grpc.aio echo c=16": singles,
    }

    def bar(name: str, per_call: int) -> Tick:
        return steps.bar(name, max(1, plan_total(name) // per_call))

    def plan_total(name: str) -> int:
        return events if "batch" in name else singles

    async with ingest_meters(root, nc, bar) as meters:
        raw = RawPublish(
            nc.jetstream(), True, stored_payload(), steps.bar("[10] raw publish_async", events)
        )
        names = list(meters)
        series = await interleave(
            sizes.rounds, [*((meters[k], plan[k]) for k in names), (raw, events)]
        )
    steps.close()
    by_name = dict(zip(names, series, strict=False))
    per_event = "JetStream publish_async, 1 event/msg"
    comparisons = [
        Comparison(
            10,
            "ingest: gRPC batches of 100",
            "sqlite",
            by_name["Ingest batch of 100"],
            per_event,
            series[-1],
        ),
        Comparison(
            10,
            "ingest: HTTP door batches of 100",
            "sqlite",
            by_name["HTTP /v1/batch of 100"],
            per_event,
            series[-1],
        ),
        Comparison(
            10,
            "ingest: gRPC single events c=16",
            "sqlite",
            by_name["Ingest single c=16"],
            "grpc.aio echo c=16",
            by_name["grpc.aio echo c=16"],
        ),
    ]
    echo = meters["grpc.aio echo c=16"].latencies
    context = {
        f"ingest latency {name}": latency_note(meters[name].latencies, echo)
        for name in ("Ingest batch of 100", "Ingest single c=16", "HTTP /v1/batch of 100")
    }
    return comparisons, context
