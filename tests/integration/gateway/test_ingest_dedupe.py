"""The ingest dedupe store on SQLite and PostgreSQL: one index seek per request; and the real
gateway answering from it past JetStream's window. (Windows and pruning: the repository
contract in test_unit_of_work_contract.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nats.js import JetStreamContext

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from services.gateway.store.message_ids import SqlMessageIds, seen_by_driver
from services.kernel.store.database import Database
from tests.integration.gateway.conftest import RunningGateway
from tests.integration.gateway.test_gateway_api import auth, event, stored_count
from tests.integration.harness import explain
from tests.polling import eventually

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
WEEK = NOW + timedelta(days=7)


def test_the_lookup_of_a_requests_ids_seeks_the_primary_key(gateway_db: Database) -> None:
    # enough rows that a scan costs more than 100 seeks, as in any real gateway
    with gateway_db.transaction() as session:
        for tenant in ("acme", "globex", "initech", "umbrella"):
            accepted = {f"m-{i}": i for i in range(20_000)}
            SqlMessageIds(session).remember(tenant, accepted, NOW, WEEK)
    ids = [f"m-{i}" for i in range(0, 20_000, 200)]  # a batch of 100
    plan = explain(
        gateway_db, lambda s: SqlMessageIds(s).seen("acme", ids, NOW), "ingest_message_ids"
    )
    if gateway_db.is_sqlite:
        assert "USING PRIMARY KEY" in plan or "sqlite_autoindex_ingest_message_ids" in plan, plan
    else:
        assert "ingest_message_ids_pkey" in plan and "Seq Scan" not in plan, plan


def test_a_group_lookup_through_the_driver_sees_what_the_store_holds(gateway_db: Database) -> None:
    with gateway_db.transaction() as session:
        kept = SqlMessageIds(session)
        kept.remember("acme", {"m-1": 7, "m-2": 8}, NOW, WEEK)
        kept.remember("acme", {"m-old": 3}, NOW - timedelta(days=8), NOW - timedelta(seconds=1))
        kept.remember("globex", {"m-3": 9}, NOW, WEEK)
    wanted = {"acme": {"m-1", "m-2", "m-3", "m-old"}, "globex": {"m-1", "m-3"}, "initech": set()}
    found = seen_by_driver(gateway_db.engine, wanted, NOW)
    assert found == {"acme": {"m-1": 7, "m-2": 8}, "globex": {"m-3": 9}}  # m-old's window ended
    assert seen_by_driver(gateway_db.engine, {"acme": {"m-1"}}, WEEK) == {"acme": {}}


async def test_the_gateway_remembers_accepted_ids_and_answers_repeats_from_its_store(
    gateway: RunningGateway, js: JetStreamContext
) -> None:
    key = gateway.key("ingest")
    first = await gateway.stub.Ingest(gpb.IngestRequest(events=[event("m-1")]), metadata=auth(key))
    (accepted,) = first.results

    async def kept() -> bool:  # remembered behind the answer
        with gateway.db.transaction() as session:
            found = SqlMessageIds(session).seen(gateway.tenant, ["m-1"], datetime.now(UTC))
        return found == {"m-1": accepted.sequence}

    await eventually(kept)
    with gateway.db.transaction() as session:
        # as if accepted three days ago, long past JetStream's two minutes
        far = WEEK.replace(year=2100)
        SqlMessageIds(session).remember(gateway.tenant, {"m-2": 424242}, datetime.now(UTC), far)
    again = await gateway.stub.Ingest(
        gpb.IngestRequest(events=[event("m-2"), event("m-3")]), metadata=auth(key)
    )
    assert [(r.status, r.sequence) for r in again.results] == [
        (gpb.IngestResult.STATUS_DUPLICATE, 424242),
        (gpb.IngestResult.STATUS_ACCEPTED, accepted.sequence + 1),
    ]
    assert await stored_count(js, gateway.tenant) == 2  # m-2 was never published
