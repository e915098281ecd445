"""One contract for the ingest log, held against JetStream and the in-memory fake."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from nats.js import JetStreamContext

from services.gateway.adapters.ingest_log import JetStreamIngestLog
from services.gateway.ingest_commits import IngestLog
from services.kernel.messaging.batch import open_envelopes
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


async def test_each_append_is_one_message_at_a_later_position(
    make_log: Callable[[], IngestLog],
) -> None:
    tenant, log = random_id("t"), make_log()
    first = await log.append([message(tenant, random_id()) for _ in range(3)])
    second = await log.append([message(tenant, random_id())])
    assert 0 < first < second


async def test_a_batch_mixing_tenants_is_refused(make_log: Callable[[], IngestLog]) -> None:
    with pytest.raises(ValueError):
        await make_log().append([message(random_id("t"), "a"), message(random_id("t"), "b")])


async def test_jetstream_keeps_the_batch_as_one_message_of_its_events(js: JetStreamContext) -> None:
    tenant = random_id("t")
    ids = [random_id() for _ in range(3)]
    sequence = await JetStreamIngestLog(js, 5.0).append([message(tenant, i) for i in ids])
    stored = await js.get_msg("INGEST", sequence)
    assert stored.subject == f"layercake.{tenant}.ingest"
    envelopes = open_envelopes(stored.subject, stored.headers, stored.data or b"", sequence)
    assert [(e.event_id, e.tenant_id, e.payload) for e in envelopes] == [
        (i, tenant, b"\x0a\x02hi") for i in ids
    ]
