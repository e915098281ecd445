"""Meters of figure 6: ScoreProfile over gRPC (the decision servicer, the kernel's
interceptor, the model cache, onnxruntime in the scoring threads) at concurrency 1 and
16, beside a bare grpc.aio echo server at the same concurrency and the bare
onnxruntime session scoring the same rows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from nats.aio.client import Client

from layercake.decision.v1 import decision_service_pb2 as pb
from services.decision import scoring, training
from services.decision.bootstrap import MIGRATIONS
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from tests.bench.measures import WARM_UP, Measure, Tick, _chunked
from tests.integration.decision.model_replicas import (
    STAGE,
    People,
    acting,
    promote,
    register,
    replica,
)

ECHO = "/bench.Echo/Echo"
MODEL = "propensity"


def percentile(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@dataclass
class _Concurrent:
    """Runs a round's calls on `concurrency` workers; keeps every call's latency."""

    call: Callable[[int], Any]
    concurrency: int
    tick: Tick
    latencies: list[float] = field(default_factory=list)

    async def round(self, n: int) -> Measure:
        queue = iter(range(n))

        async def worker() -> None:
            for i in queue:
                started = time.perf_counter()
                await self.call(i)
                self.latencies.append(time.perf_counter() - started)
                self.tick(1)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        return Measure(n, time.perf_counter() - started)


class RawOnnx:
    """The shipped model's session scoring one row per call, in this thread."""

    def __init__(self, tick: Tick, total: int) -> None:
        data = training.DEFAULT_PATH.read_bytes()
        _, output = scoring.inspect(data, training.FEATURES)
        self.session = scoring.open_session(data)
        self.output = output
        self.rows = [np.asarray([[float(i % 5), 3.0, 1.0, 2.0]], np.float32) for i in range(64)]
        self.tick = _chunked(tick, total)
        for i in range(WARM_UP):
            self.session.run([self.output], {"X": self.rows[i % 64]})

    async def round(self, n: int) -> Measure:
        run, rows, output = self.session.run, self.rows, [self.output]
        started = time.perf_counter()
        for i in range(n):
            run(output, {"X": rows[i % 64]})
        seconds = time.perf_counter() - started
        self.tick(n)
        return Measure(n, seconds)


async def _echo(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    return request


@asynccontextmanager
async def echo_channel() -> AsyncIterator[grpc.aio.Channel]:
    """A bare grpc.aio server answering bytes with the same bytes: the transport's limit."""
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)


@asynccontextmanager
async def scoring_meters(
    root: Path, nc: Client, ticks: Callable[[str], Tick]
) -> AsyncIterator[dict[str, _Concurrent]]:
    """A decision replica serving the shipped model as champion, and an echo server; a
    meter per (path, concurrency)."""
    db = Database(f"sqlite:///{root / 'decision.db'}")
    migrate(db.engine, MIGRATIONS)
    people = People("bench")
    async with AsyncExitStack() as stack:
        decision = await stack.enter_async_context(replica(db, nc))
        echo = await stack.enter_async_context(echo_channel())
        stack.callback(db.dispose)
        await register(
            decision.stub,
            people.ann,
            MODEL,
            "1",
            training.DEFAULT_PATH.read_bytes(),
            training.FEATURES,
        )
        await promote(decision.stub, people, MODEL, "1", STAGE.MODEL_STAGE_CHAMPION)
        who = acting(people.ann)
        requests = [
            pb.ScoreProfileRequest(
                model_name=MODEL, profile_id=f"p-{i}", features={"trait_orders_30d": i % 5}
            )
            for i in range(64)
        ]
        payloads = [r.SerializeToString() for r in requests]
        echo_call = echo.unary_unary(ECHO)

        async def score(i: int) -> None:
            await decision.stub.ScoreProfile(requests[i % 64], metadata=who, timeout=10)

        async def echoed(i: int) -> None:
            await echo_call(payloads[i % 64], metadata=who, timeout=10)

        for i in range(WARM_UP):
            await score(i)
            await echoed(i)
        yield {
            f"{name} c={c}": _Concurrent(call, c, ticks(f"[6] {name}, concurrency {c}"))
            for c in (1, 16)
            for name, call in (("ScoreProfile", score), ("grpc.aio echo", echoed))
        }
