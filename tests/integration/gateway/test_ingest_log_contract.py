"""One contract for the ingest log, held against JetStream and the in-memory fake."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from nats.js import JetStreamContext

from services.gateway.adapters.ingest_log import JetStreamIngestLog
from services.gateway.handlers import IngestLog
from services.kernel.store.records import OutboxMessage
from tests.conftest import random_id
from tests.unit.gateway.fakes import FakeIngestLog

AT = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(params=["jetstream", "fake"])
def make_log(request: pytest.FixtureRequest) -> Callable[[], IngestLog]:
    if request.param == "fake":
        return FakeIngestLog
    js: JetStreamContext = request.getfixturevalue("js")
    return lambda: JetStreamIngestLog(js, ack_timeout=5.0)


def message(tenant: str, event_id: str) -> OutboxMessage:
    return OutboxMessage(
        subject=f"layercake.{tenant}.ingest",
        type="layercake.events.v1.EventIngested",
        payload=b"\x0a\x02hi",
        tenant_id=tenant,
        event_id=event_id,
        source="gateway",
        created_time=AT,
    )


async def test_one_answer_per_message_in_order(make_log: Callable[[], IngestLog]) -> None:
    tenant = random_id("t")
    published = await make_log().append([message(tenant, random_id()) for _ in range(3)])
    assert len(published) == 3 and not any(p.duplicate for p in published)
    assert published[0].sequence < published[1].sequence < published[2].sequence


async def test_a_repeated_event_id_is_a_duplicate_at_its_first_sequence(
    make_log: Callable[[], IngestLog],
) -> None:
    tenant, log = random_id("t"), make_log()
    first_id, second_id = random_id(), random_id()
    [first] = await log.append([message(tenant, first_id)])
    again = await log.append([message(tenant, first_id), message(tenant, second_id)])
    assert again[0].duplicate and again[0].sequence == first.sequence
    assert not again[1].duplicate
