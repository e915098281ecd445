"""Helpers the kernel's integration tests share: polling, a test effects table, publishing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import NotFoundError
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from services.kernel.messaging.envelope import Envelope, headers_for
from services.kernel.store.database import Database
from services.kernel.store.records import OutboxMessage
from services.kernel.store.unit_of_work import UnitOfWork

T = TypeVar("T")

EVENT_TYPE = "layercake.events.v1.KernelTestEvent"

effects_metadata = MetaData()

# What a consumer's handler "did": one row per applied message.
effects = Table(
    "kernel_test_effects",
    effects_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("worker", String(40), nullable=False),
)


def record_effect(worker: str) -> Callable[[UnitOfWork, Envelope], None]:
    """A handler whose effect is a row in `effects`, written in the consumer's transaction."""

    def handle(uow: UnitOfWork, env: Envelope) -> None:
        uow.session.execute(insert(effects).values(event_id=env.event_id, worker=worker))

    return handle


def count_effects(db: Database, event_id: str | None = None) -> int:
    stmt = select(func.count()).select_from(effects)
    if event_id is not None:
        stmt = stmt.where(effects.c.event_id == event_id)
    with db.transaction() as session:
        return int(session.execute(stmt).scalar_one())


def make_message(subject: str, tenant: str, event_id: str | None = None) -> OutboxMessage:
    return OutboxMessage(
        subject=subject,
        type=EVENT_TYPE,
        payload=b"payload-" + (event_id or "").encode(),
        tenant_id=tenant,
        event_id=event_id or str(uuid.uuid4()),
        source="kernel-tests",
    )


async def publish(
    js: JetStreamContext, message: OutboxMessage, msg_id: str | None = None
) -> PubAck:
    """Publishes as the relay would; a different `msg_id` defeats JetStream's dedupe."""
    headers = headers_for(message, datetime.now(UTC))
    if msg_id is not None:
        headers["Nats-Msg-Id"] = msg_id
    return await js.publish(message.subject, message.payload, headers=headers)


async def subject_counts(js: JetStreamContext, stream: str, subjects: str) -> dict[str, int]:
    """How many messages each subject matching `subjects` has in `stream`."""
    info = await js.stream_info(stream, subjects_filter=subjects)
    return dict(info.state.subjects or {})


async def last_message_headers(
    js: JetStreamContext, stream: str, subject: str
) -> dict[str, str] | None:
    try:
        msg = await js.get_last_msg(stream, subject)
    except NotFoundError:
        return None
    return dict(msg.headers or {})
