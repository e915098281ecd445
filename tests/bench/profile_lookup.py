"""Figure 11: identity's GetProfile over gRPC (the servicer, the kernel's signed-call
interceptor, the lookup by hashed email in the read model, the profile loaded from its
snapshot and stream) at concurrency 1 and 16, beside a bare grpc.aio echo at the same
concurrency; latency percentiles beside the echo's.

The profiles are made by the identity service's own resolution (each person identified
with an email and a cookie, then seen again with traits), on their own SQLite file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from layercake.identity.v1 import identity_service_pb2 as pb
from layercake.identity.v1 import identity_service_pb2_grpc as pb_grpc
from services.identity import handlers
from services.identity.api.servicer import identity_servicer
from services.identity.bootstrap import MIGRATIONS
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.rules import DEFAULT_RULES
from services.identity.rules_cache import RulesCache
from services.identity.store.audiences import AudienceProjection
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.projection import ProfileProjection
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.kernel.assets.projection import AssetProjection
from services.kernel.clock import SystemClock
from services.kernel.principals import Role
from services.kernel.rpc.server import create_server
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.bench.measures import WARM_UP, Tick
from tests.bench.models import ECHO, _Concurrent, echo_channel
from tests.signing import INTERNAL, signed_channel

if TYPE_CHECKING:
    from tests.bench.harness import Comparison, Sizes, Steps

CONCURRENCY = (1, 16)
MAX_PEOPLE = 500  # LOOKUP_CALLS / 4 people, at most this many
EVENTS_EACH = 4  # a stream of a few events per profile, as a tenant's people have
TENANT = "benchlookup"
AT = datetime(2026, 3, 1, tzinfo=UTC)


def _email(i: int) -> str:
    return f"person{i}@example.com"


def seed(units: UnitOfWorkFactory[SqlIdentityUnitOfWork], people: int) -> None:
    """`people` profiles through resolution, one transaction per round of events."""
    for step in range(EVENTS_EACH):
        cmds = [
            ApplyIngestedEvent(
                TENANT,
                f"m{i}-{step}",
                AT + timedelta(minutes=step),
                (("email", _email(i)), ("cookie_id", f"c{i}-{step % 2}")),
                {"plan": f'"{["free", "gold"][step % 2]}"', "visits": str(step)},
            )
            for i in range(people)
        ]
        with units() as uow:
            handlers.prefetch_ingested(uow, cmds, lambda _: DEFAULT_RULES)
            for cmd in cmds:
                handlers.apply_ingested_event(uow, cmd, causation_id=cmd.message_id)
            uow.commit()


@asynccontextmanager
async def lookup_meters(
    root: Path, people: int, ticks: Callable[[str], Tick]
) -> AsyncIterator[dict[str, _Concurrent]]:
    """An identity servicer over the seeded profiles, and an echo server; a meter per
    (path, concurrency)."""
    db = Database(f"sqlite:///{root / 'lookup.db'}")
    migrate(db.engine, MIGRATIONS)
    keys = SqlProfileKeys.open(f"sqlite:///{root / 'lookup-keys.db'}")
    units = UnitOfWorkFactory(
        db.sessions,
        SystemClock(),
        [ProfileProjection(keys), AudienceProjection(), AssetProjection()],
        kind=SqlIdentityUnitOfWork.with_keys(keys),
    )
    seed(units, people)
    async with AsyncExitStack() as stack:
        stack.callback(db.dispose)
        stack.callback(keys.close)
        layer = ServiceLayer(db, units)
        server = create_server(
            "127.0.0.1:0", [identity_servicer(layer, rules=RulesCache().get)], internal=INTERNAL
        )
        await server.server.start()
        stack.push_async_callback(server.server.stop, None)
        addr = f"127.0.0.1:{server.port}"
        channel = signed_channel(addr, TENANT, roles=frozenset({Role.VIEWER}))
        stack.push_async_callback(channel.close)
        stub = pb_grpc.IdentityServiceStub(channel)
        echo = await stack.enter_async_context(echo_channel())
        requests = [pb.GetProfileRequest(profile_ref=f"email:{_email(i)}") for i in range(people)]
        payloads = [r.SerializeToString() for r in requests]
        echo_call = echo.unary_unary(ECHO)

        async def lookup(i: int) -> None:
            await stub.GetProfile(requests[i % people], timeout=10)

        async def echoed(i: int) -> None:
            await echo_call(payloads[i % people], timeout=10)

        for i in range(WARM_UP):
            await lookup(i)
            await echoed(i)
        yield {
            f"{name} c={c}": _Concurrent(call, c, ticks(f"[11] {name}, concurrency {c}"))
            for c in CONCURRENCY
            for name, call in (("GetProfile", lookup), ("grpc.aio echo", echoed))
        }


async def figure_11(
    root: Path, sizes: Sizes, steps: Steps
) -> tuple[list[Comparison], dict[str, str]]:
    """GetProfile by email beside a bare grpc.aio echo at the same concurrency; latency
    percentiles beside the echo's."""
    from tests.bench.harness import Comparison, interleave, latency_note

    n = sizes.lookup_calls
    people = min(MAX_PEOPLE, max(n // 4, 10))
    async with lookup_meters(root, people, lambda name: steps.bar(name, n)) as meters:
        names = list(meters)
        series = await interleave(sizes.rounds, [(meters[k], n) for k in names])
    steps.close()
    by_name = dict(zip(names, series, strict=True))
    comparisons, context = [], {}
    for c in CONCURRENCY:
        lookup, echo = f"GetProfile c={c}", f"grpc.aio echo c={c}"
        comparisons.append(
            Comparison(11, f"identity: {lookup}", "sqlite", by_name[lookup], echo, by_name[echo])
        )
        context[f"profile lookup latency c={c}"] = latency_note(
            meters[lookup].latencies, meters[echo].latencies
        )
    return comparisons, context
