"""Decision replicas for the model tests: each a servicer, a model cache following the
DECISION stream through its own broadcast, and the production gRPC server (`create_server`).

Calls act for the principal named in `PRINCIPAL` metadata (set inside the kernel's
interceptor with `calls.act_as`, as the gateway does once it admitted a key).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from nats.aio.client import Client

from layercake.decision.v1 import decision_service_pb2 as pb
from layercake.decision.v1 import decision_service_pb2_grpc as pb_grpc
from layercake.decision.v1 import models_pb2
from services.decision.bootstrap import PROJECTIONS, SCORING_THREADS, parts
from services.decision.catalogs import Catalogs
from services.decision.exposures import ExposureCounts
from services.decision.logging import DecisionLogWriter
from services.decision.serving import ModelServing
from services.decision.store.unit_of_work import decision_unit_of_work
from services.kernel.clock import Clock, SystemClock
from services.kernel.messaging.broadcast import Broadcast
from services.kernel.messaging.relay import OutboxRelay
from services.kernel.messaging.streams import ensure_streams
from services.kernel.principals import Actor, Principal, PrincipalKind, Role
from services.kernel.rpc import calls
from services.kernel.rpc.server import Servicer, create_server
from services.kernel.rpc.signing import InternalCalls
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory

PRINCIPAL = "x-test-principal"
CHUNK = 200
STAGE = models_pb2.ModelStage  # small, so even the shipped model streams in several chunks


def person(tenant: str, name: str, role: Role) -> Principal:
    return Principal(tenant, Actor(name, PrincipalKind.PERSON), frozenset({role}))


def acting(principal: Principal) -> tuple[tuple[str, str], ...]:
    roles = ",".join(sorted(r.value for r in principal.roles))
    return ((PRINCIPAL, f"{principal.tenant_id}|{principal.actor}|{roles}"),)


class ActAs(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Inside the kernel's interceptor: the call acts for the principal its metadata names.
    A method's handler is wrapped once (as the kernel's interceptor does), not per call."""

    def __init__(self) -> None:
        self.wrapped: dict[Any, Any] = {}

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        handler = await continuation(details)
        if handler is None or (handler.unary_unary is None and handler.stream_unary is None):
            return handler
        found = self.wrapped.get(handler)
        if found is None:
            found = self.wrapped[handler] = _acting(handler)
        return found


@functools.lru_cache(maxsize=256)
def _principal(named: str) -> Principal:
    """The principal `acting` names, parsed once (as the gateway holds an admitted key's)."""
    tenant, actor, roles = named.split("|")
    return Principal(tenant, Actor.parse(actor), frozenset(Role(r) for r in roles.split(",") if r))


def _acting(handler: Any) -> Any:
    def wrap(inner: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def call(request: Any, context: Any) -> Any:
            for key, value in context.invocation_metadata() or ():
                if key == PRINCIPAL:
                    calls.act_as(_principal(value))
                    break
            return await inner(request, context)

        return call

    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            wrap(handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return grpc.stream_unary_rpc_method_handler(
        wrap(handler.stream_unary),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


@dataclass
class Replica:
    stub: pb_grpc.DecisionServiceStub
    serving: ModelServing
    relay: OutboxRelay
    catalogs: Catalogs
    log: DecisionLogWriter
    addr: str
    exposures: ExposureCounts


@asynccontextmanager
async def replica(
    db: Database,
    nc: Client,
    clock: Clock | None = None,
    internal: InternalCalls | None = None,
    model_dir: Path | None = None,
) -> AsyncIterator[Replica]:
    """A replica; with `internal`, it answers only signed calls, as a deployed one does;
    with `model_dir`, it keeps model bytes in files there (LAYERCAKE_DECISION_MODEL_DIR)."""
    clock = clock or SystemClock()
    js = nc.jetstream()
    relay = OutboxRelay(db, js)
    layer = ServiceLayer(
        db,
        UnitOfWorkFactory(db.sessions, clock, PROJECTIONS, kind=decision_unit_of_work(model_dir)),
    )
    executor = ThreadPoolExecutor(SCORING_THREADS)
    live = parts(layer, executor, clock)
    broadcasts = [Broadcast(spec, nc, js, heartbeat=0.5) for spec in live.broadcasts()]
    for broadcast in broadcasts:
        await broadcast.start()
    stop = asyncio.Event()
    following = [asyncio.create_task(b.run(stop)) for b in broadcasts]
    following.append(asyncio.create_task(live.log.run(stop)))
    # the production server (its options, the kernel's interceptor), as the runtime builds it
    built = create_server(
        "127.0.0.1:0", [live.servicer, live.inference], internal=internal, interceptors=[ActAs()]
    )
    server, port = built.server, built.port
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.DecisionServiceStub(channel)
            addr = f"127.0.0.1:{port}"
            yield Replica(stub, live.serving, relay, live.catalogs, live.log, addr, live.exposures)
    finally:
        await server.stop(None)
        stop.set()
        await asyncio.gather(*following)
        executor.shutdown()


@asynccontextmanager
async def replicas(
    db: Database, nc: Client, count: int, clock: Clock | None = None, model_dir: Path | None = None
) -> AsyncIterator[list[Replica]]:
    await ensure_streams(nc.jetstream())
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(replica(db, nc, clock, model_dir=model_dir))
            for _ in range(count)
        ]


def upload_messages(
    upload: pb.ModelUpload, content: bytes, chunk: int = CHUNK
) -> Iterator[pb.RegisterModelRequest]:
    yield pb.RegisterModelRequest(upload=upload)
    for start in range(0, len(content), chunk):
        yield pb.RegisterModelRequest(chunk=content[start : start + chunk])


async def register(
    stub: pb_grpc.DecisionServiceStub,
    who: Principal,
    name: str,
    version: str,
    content: bytes,
    features: tuple[str, ...],
) -> pb.RegisterModelResponse:
    upload = pb.ModelUpload(
        request_id=str(uuid.uuid4()),
        tenant_id=who.tenant_id,
        model_name=name,
        version=version,
        feature_names=list(features),
        sha256=hashlib.sha256(content).hexdigest(),
    )
    upload.metadata.owner = "ann"
    upload.metadata.labels["framework"] = "sklearn"
    response: pb.RegisterModelResponse = await stub.RegisterModel(
        upload_messages(upload, content), metadata=acting(who), timeout=10
    )
    return response


def model_servicer(layer: ServiceLayer) -> Servicer:
    """The decision servicer with empty caches, for tests of its other RPCs."""
    return parts(layer, ThreadPoolExecutor(1), SystemClock()).servicer


class People:
    def __init__(self, tenant: str) -> None:
        self.ann = person(tenant, "ann", Role.EDITOR)
        self.cat = person(tenant, "cat", Role.APPROVER)
        self.ops = person(tenant, "ops", Role.OPERATOR)


async def promote(
    stub: pb_grpc.DecisionServiceStub,
    people: People,
    name: str,
    version: str,
    stage: int,
    share: float = 0.0,
) -> pb.PublishModelChangeResponse:
    """Proposed by an editor, approved by an approver, published by an operator."""
    tenant = people.ann.tenant_id
    await stub.PromoteModel(
        pb.PromoteModelRequest(
            request_id=str(uuid.uuid4()),
            tenant_id=tenant,
            model_name=name,
            version=version,
            stage=stage,  # type: ignore[arg-type]
            challenger_share=share,
            reason="offline AUC up",
        ),
        metadata=acting(people.ann),
    )
    await stub.ApproveModelChange(
        pb.ApproveModelChangeRequest(
            request_id=str(uuid.uuid4()), tenant_id=tenant, model_name=name, reason="checked"
        ),
        metadata=acting(people.cat),
    )
    response: pb.PublishModelChangeResponse = await stub.PublishModelChange(
        pb.PublishModelChangeRequest(
            request_id=str(uuid.uuid4()), tenant_id=tenant, model_name=name
        ),
        metadata=acting(people.ops),
    )
    return response
