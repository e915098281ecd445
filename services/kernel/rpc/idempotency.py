"""Idempotent mutating RPCs (AIP-155): a retry with the same `request_id` gets the first answer.

Every mutating request carries a `request_id` (a UUID the client makes once per
intended change and reuses on each retry). The answer is recorded under (tenant,
method, request_id) with a hash of the request, in the same transaction as the
effects, so a retry never applies twice, even when the first call committed after
its caller had given up. The same id with a different request is INVALID_ARGUMENT.
Answers are kept for `LAYERCAKE_REQUEST_RETENTION` (7 days), then purged by the runtime.

    async def CreateWidget(self, request, context):
        key = idempotency.request_key(request.request_id)
        return await self.layer.run(
            idempotency.once, key, request, pb.CreateWidgetResponse,
            lambda uow: pb.CreateWidgetResponse(widget=to_proto(handlers.create(uow, ...))),
        )
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import (
    Column,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    select,
)
from sqlalchemy.orm import Session

from services.kernel.clock import Clock
from services.kernel.errors import InvalidArgument
from services.kernel.rpc import calls
from services.kernel.store.conflicts import insert_unless_conflict
from services.kernel.store.database import Database
from services.kernel.store.retention import delete_expired
from services.kernel.store.schema import UtcDateTime
from services.kernel.store.unit_of_work import UnitOfWork

M = TypeVar("M", bound=Message)

# Created by the kernel migrations `kernel_requests_0001` and `_0002` (the index on
# `recorded_time`, for the purge), which freeze their own copies.
requests = Table(
    "idempotent_requests",
    MetaData(),
    Column("tenant_id", String(64), nullable=False),
    Column("method", String(200), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("request_sha256", String(64), nullable=False),
    Column("response", LargeBinary, nullable=False),
    Column("recorded_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "method", "request_id", name="pk_idempotent_requests"),
    Index("ix_idempotent_requests_recorded_time", "recorded_time"),
)


@dataclass(frozen=True)
class RequestKey:
    """What a recorded answer is filed under: one tenant's one call of one method."""

    tenant_id: str
    method: str
    request_id: str


def request_key(
    request_id: str, tenant_id: str | None = None, method: str | None = None
) -> RequestKey | None:
    """The key of the current call's request; None when it has no `request_id` (then it is
    applied without being recorded). Tenant and method default to the current call's."""
    if not request_id:
        return None
    try:
        canonical = str(uuid.UUID(request_id))
    except ValueError:
        raise InvalidArgument.field(
            "request_id", "must be a UUID, made once per change and reused on each retry"
        ) from None
    call = calls.current_call()
    if method is None:
        if call is None:
            raise RuntimeError("request_key() outside an RPC needs the method")
        method = call.method
    tenant = tenant_id if tenant_id is not None else calls.current_principal().tenant_id
    return RequestKey(tenant, method, canonical)


def fingerprint(request: Message) -> str:
    """SHA-256 of the request, so a reused id with a different request is told apart."""
    return hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()


def recall(session: Session, key: RequestKey, request: Message, response_type: type[M]) -> M | None:
    """The answer recorded for `key`, or None; InvalidArgument when `request` is not the
    request that was answered."""
    row = session.execute(
        select(requests.c.request_sha256, requests.c.response).where(
            requests.c.tenant_id == key.tenant_id,
            requests.c.method == key.method,
            requests.c.request_id == key.request_id,
        )
    ).first()
    if row is None:
        return None
    if row.request_sha256 != fingerprint(request):
        raise InvalidArgument.field(
            "request_id",
            f"{key.request_id} was already used for a different request; a new change"
            " needs a new request_id",
        )
    return response_type.FromString(row.response)


def remember(session: Session, key: RequestKey, request: Message, response: M, now: datetime) -> M:
    """Records `response` as the answer to `key`; returns the answer that stands: `response`,
    or the one a concurrent call with the same id recorded first."""
    connection = session.connection()
    row = {
        "tenant_id": key.tenant_id,
        "method": key.method,
        "request_id": key.request_id,
        "request_sha256": fingerprint(request),
        "response": response.SerializeToString(),
        "recorded_time": now,
    }
    if connection.execute(insert_unless_conflict(requests, connection.dialect.name), row).first():
        return response
    first = recall(session, key, request, type(response))
    assert first is not None, "a conflicting row is committed before the insert gives up"
    return first


def purge(session: Session, before: datetime, limit: int) -> int:
    """Forgets at most `limit` answers recorded before `before` (the oldest first): a retry
    arriving after `LAYERCAKE_REQUEST_RETENTION` is applied as a new request."""
    return delete_expired(session, requests, requests.c.recorded_time, before, limit)


def once(
    uow: UnitOfWork,
    key: RequestKey | None,
    request: Message,
    response_type: type[M],
    apply: Callable[[UnitOfWork], M],
) -> M:
    """The answer to `request`: the recorded one, or `apply(uow)`'s, recorded in its transaction.

    `apply` makes the effects and the answer in `uow` (its handler may call `uow.commit()`,
    which is held until the answer is recorded beside the effects). Nothing is recorded
    when `apply` raises or does not commit.
    """
    if key is not None:
        previous = recall(uow.session, key, request, response_type)
        if previous is not None:
            return previous
    with uow.holding_commit():
        response = apply(uow)
    if not uow.commit_held:
        return response
    if key is not None:
        standing = remember(uow.session, key, request, response, uow.now())
        if standing is not response:  # a concurrent retry won: its effects stand, not ours
            uow.rollback()
            return standing
    uow.commit()
    return response


async def once_async(
    db: Database,
    clock: Clock,
    key: RequestKey | None,
    request: Message,
    response_type: type[M],
    apply: Callable[[], Awaitable[M]],
) -> M:
    """`once` for an RPC whose effects are outside this database and idempotent by themselves
    (the gateway's Ingest: JetStream and identity drop a repeated message id).

    The answer is recorded after the effects, so a crash between the two repeats the effects
    on retry, harmlessly; a retry after the record gets the first answer.
    """
    if key is None:
        return await apply()
    previous = await db.read(lambda s: recall(s, key, request, response_type))
    if previous is not None:
        return previous
    response = await apply()
    return await db.transact(lambda s: remember(s, key, request, response, clock.now()))
