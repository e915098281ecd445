"""Meters of figure 8: Decide over gRPC (the drinks example: catalog screen with CEL rules,
feature transforms, the drinks ONNX model on both candidates, arbitration, the decision
logged) at concurrency 1, 16 and 64, beside a bare grpc.aio echo at the same concurrency
and the bare onnxruntime session scoring the same two-row batch. The replica serves on the
production server (`create_server`: its options, the kernel's interceptor) with the
production scoring threads."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from google.protobuf import struct_pb2
from nats.aio.client import Client

from layercake.decision.v1 import decision_service_pb2 as pb
from services.decision import scoring, training
from services.decision.bootstrap import MIGRATIONS, PROJECTIONS
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel import collector
from services.kernel.clock import SystemClock
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.bench.measures import WARM_UP, Measure, Tick, _chunked
from tests.bench.models import ECHO, _Concurrent, echo_channel
from tests.integration.decision.catalogs import publish_catalog, set_traits
from tests.integration.decision.model_replicas import (
    STAGE,
    People,
    acting,
    promote,
    register,
    replica,
)

CONCURRENCY = (1, 16, 64)
PROFILES = 64


class RawDrinks:
    """The drinks model's session scoring two rows (water, diet soda) per call."""

    def __init__(self, tick: Tick, total: int) -> None:
        data = training.DRINKS_PATH.read_bytes()
        columns = training.drinks_placement().features.columns
        _, output = scoring.inspect(data, columns)
        self.session = scoring.open_session(data)
        self.output = output
        self.input = self.session.get_inputs()[0].name
        x, _ = training.drinks_synthetic(training.drinks_placement(), rows=128)
        self.batches = [x[i : i + 2] for i in range(0, 128, 2)]
        self.tick = _chunked(tick, total)
        for i in range(WARM_UP):
            self.session.run([self.output], {self.input: self.batches[i % 64]})

    async def round(self, n: int) -> Measure:
        run, batches, output, name = self.session.run, self.batches, [self.output], self.input
        started = time.perf_counter()
        for i in range(n):
            run(output, {name: batches[i % 64]})
        seconds = time.perf_counter() - started
        self.tick(n)
        return Measure(n, seconds)


def _context(i: int) -> struct_pb2.Struct:
    context = struct_pb2.Struct()
    context.update(
        {
            "channel": "kiosk",
            "weather": {"temperature_c": float(5 + i % 30)},
            "location": {"region": ("north", "south", "coast")[i % 3]},
            "stock": {"water": i % 7, "diet_soda": 5},
        }
    )
    return context


@asynccontextmanager
async def decide_meters(
    root: Path, nc: Client, ticks: Callable[[str], Tick]
) -> AsyncIterator[dict[str, _Concurrent]]:
    """A decision replica deciding on the drinks example, and an echo server; a meter per
    (path, concurrency)."""
    db = Database(f"sqlite:///{root / 'decide.db'}")
    migrate(db.engine, MIGRATIONS)
    people = People("bench")
    units = UnitOfWorkFactory(db.sessions, SystemClock(), PROJECTIONS, kind=SqlDecisionUnitOfWork)
    publish_catalog(units, people)
    for i in range(PROFILES):
        traits = {"age": 18 + i, "sodas_30d": i % 4, "prefers_sugar_free": i % 2}
        set_traits(units, "bench", f"p-{i}", traits)
    async with AsyncExitStack() as stack:
        stack.callback(db.dispose)  # last: the replica's decision log flushes into it at exit
        decision = await stack.enter_async_context(replica(db, nc))
        echo = await stack.enter_async_context(echo_channel())
        columns = training.drinks_placement().features.columns
        await register(
            decision.stub, people.ann, "drinks", "1", training.DRINKS_PATH.read_bytes(), columns
        )
        await promote(decision.stub, people, "drinks", "1", STAGE.MODEL_STAGE_CHAMPION)
        who = acting(people.ann)
        requests = [
            pb.DecideRequest(
                profile_id=f"p-{i}", placement="drinks", context=_context(i), max_actions=2, seed=i
            )
            for i in range(PROFILES)
        ]
        payloads = [r.SerializeToString() for r in requests]
        echo_call = echo.unary_unary(ECHO)

        async def decide(i: int) -> None:
            await decision.stub.Decide(requests[i % PROFILES], metadata=who, timeout=10)

        async def echoed(i: int) -> None:
            await echo_call(payloads[i % PROFILES], metadata=who, timeout=10)

        for i in range(WARM_UP):
            await decide(i)
            await echoed(i)
        collector.settle()  # as the runtime does once a service started
        yield {
            f"{name} c={c}": _Concurrent(call, c, ticks(f"[8] {name}, concurrency {c}"))
            for c in CONCURRENCY
            for name, call in (("Decide", decide), ("grpc.aio echo", echoed))
        }
