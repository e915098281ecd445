"""The ingest dedupe store on SQLite and PostgreSQL: one index seek per request, a window
per id, bounded pruning; and the real gateway answering from it past JetStream's window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nats.js import JetStreamContext
from sqlalchemy import func, select

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from services.gateway.store import message_ids
from services.gateway.store.tables import ingest_message_ids
from services.kernel.store.database import Database
from tests.integration.gateway.conftest import RunningGateway
from tests.integration.gateway.test_gateway_api import auth, event, stored_count
from tests.integration.harness import explain

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
WEEK = NOW + timedelta(days=7)


def test_the_lookup_of_a_requests_ids_seeks_the_primary_key(gateway_db: Database) -> None:
    # enough rows that a scan costs more than 100 seeks, as in any real gateway
    with gateway_db.transaction() as session:
        for tenant in ("acme", "globex", "initech", "umbrella"):
            accepted = {f"m-{i}": i for i in range(20_000)}
            message_ids.remember(session, tenant, accepted, WEEK)
    ids = [f"m-{i}" for i in range(0, 20_000, 200)]  # a batch of 100
    plan = explain(
        gateway_db, lambda s: message_ids.seen(s, "acme", ids, NOW), "ingest_message_ids"
    )
    if gateway_db.is_sqlite:
        assert "USING PRIMARY KEY" in plan or "sqlite_autoindex_ingest_message_ids" in plan, plan
    else:
        assert "ingest_message_ids_pkey" in plan and "Seq Scan" not in plan, plan


def test_seen_answers_ids_within_their_window_with_their_sequence(gateway_db: Database) -> None:
    with gateway_db.transaction() as session:
        message_ids.remember(session, "acme", {"m-1": 7, "m-2": 8}, WEEK)
        message_ids.remember(session, "acme", {"m-old": 3}, NOW - timedelta(seconds=1))
        message_ids.remember(session, "globex", {"m-3": 9}, WEEK)
    with gateway_db.transaction() as session:
        asked = ["m-1", "m-2", "m-3", "m-old", "m-new"]
        assert message_ids.seen(session, "acme", asked, NOW) == {"m-1": 7, "m-2": 8}
        assert message_ids.seen(session, "acme", ["m-1"], WEEK) == {}  # the window ended
        # an expired id accepted again starts a new window
        message_ids.remember(session, "acme", {"m-old": 11}, WEEK)
        assert message_ids.seen(session, "acme", ["m-old"], NOW) == {"m-old": 11}


def test_prune_deletes_expired_ids_in_bounded_batches(gateway_db: Database) -> None:
    with gateway_db.transaction() as session:
        message_ids.remember(session, "acme", {f"old-{i}": i for i in range(5)}, NOW)
        message_ids.remember(session, "acme", {"m-1": 1}, WEEK)
    with gateway_db.transaction() as session:
        assert message_ids.prune(session, NOW, limit=3) == 3
    with gateway_db.transaction() as session:
        assert message_ids.prune(session, NOW, limit=3) == 2
        assert message_ids.prune(session, NOW, limit=3) == 0
        left = session.scalars(select(ingest_message_ids.c.message_id)).all()
        assert left == ["m-1"]
        count = session.scalar(select(func.count()).select_from(ingest_message_ids))
        assert count == 1


async def test_the_gateway_remembers_accepted_ids_and_answers_repeats_from_its_store(
    gateway: RunningGateway, js: JetStreamContext
) -> None:
    key = gateway.key("ingest")
    first = await gateway.stub.Ingest(gpb.IngestRequest(events=[event("m-1")]), metadata=auth(key))
    (accepted,) = first.results
    with gateway.db.transaction() as session:
        kept = message_ids.seen(session, gateway.tenant, ["m-1"], datetime.now(UTC))
        assert kept == {"m-1": accepted.sequence}
        # as if accepted three days ago, long past JetStream's two minutes
        message_ids.remember(session, gateway.tenant, {"m-2": 424242}, WEEK.replace(year=2100))
    again = await gateway.stub.Ingest(
        gpb.IngestRequest(events=[event("m-2"), event("m-3")]), metadata=auth(key)
    )
    assert [(r.status, r.sequence) for r in again.results] == [
        (gpb.IngestResult.STATUS_DUPLICATE, 424242),
        (gpb.IngestResult.STATUS_ACCEPTED, accepted.sequence + 1),
    ]
    assert await stored_count(js, gateway.tenant) == 2  # m-2 was never published
