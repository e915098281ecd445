"""A batch of runs (a consumer's fetch, the scheduler's timers) reads its people's instance
rows and its runs' streams with one query each: each must seek an index per person or
stream, whatever else the tenant and the store hold, so a batch costs the same on a big
database as on a new one."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert

from services.kernel.store.database import Database
from services.kernel.store.event_store import EventStore
from services.kernel.store.schema import events
from services.orchestrator.domain.instances.instance import instance_stream_id
from services.orchestrator.store.instance_records import SqlInstanceRecords
from services.orchestrator.store.tables import journey_instances
from tests.integration.harness import explain

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)
PEOPLE = 2_000


def _instance(tenant: str, journey: str, n: int) -> dict[str, object]:
    return {
        "tenant_id": tenant,
        "journey_id": journey,
        "profile_id": f"p-{n}",
        "journey_version": 1,
        "run": 1,
        "active": True,
        "step_id": "wait",
        "wait_reason": "wait",
        "wait_event": "",
        "due_time": AT,
        "enter_time": AT,
        "exit_reason": "",
        "stream_version": 2,
    }


def _event(stream: str, version: int) -> dict[str, object]:
    return {
        "stream_id": stream,
        "version": version,
        "event_id": f"{stream}#{version}",
        "type": "T",
        "payload": b"",
        "tenant_id": "acme",
        "actor_id": "system:orchestrator",
        "actor_kind": "system",
        "schema_version": 1,
        "causation_id": "",
        "correlation_id": "",
        "traceparent": "",
        "recorded_time": AT,
    }


def test_a_batchs_instance_rows_are_read_by_the_profile_index(service_db: Database) -> None:
    rows = [
        _instance(tenant, journey, n)
        for tenant in ("acme", "globex")
        for journey in ("cart", "welcome")
        for n in range(PEOPLE)
    ]
    with service_db.transaction() as session:
        session.execute(insert(journey_instances), rows)
    people = ["p-7", "p-9", "p-404"]
    with service_db.transaction() as session:
        records = SqlInstanceRecords(session)
        records.prefetch("acme", people)
        found = {p: [r.journey_id for r in records.of_profile("acme", p)] for p in people}
    assert found == {p: ["cart", "welcome"] for p in people}

    plan = explain(
        service_db, lambda s: SqlInstanceRecords(s).prefetch("acme", people), "journey_instances"
    )
    if service_db.is_sqlite:
        index = "USING INDEX ix_journey_instances_profile (tenant_id=? AND profile_id=?)"
        assert index in plan and "SCAN" not in plan, plan
    else:
        assert "ix_journey_instances_profile" in plan and "Seq Scan" not in plan, plan


def test_a_batchs_streams_are_read_by_the_stream_index(service_db: Database) -> None:
    streams = [instance_stream_id("acme", "cart", f"p-{n}") for n in range(PEOPLE)]
    rows = [_event(stream, v) for stream in streams for v in (1, 2)]
    with service_db.transaction() as session:
        session.execute(insert(events), rows)
    wanted = [streams[7], streams[9], instance_stream_id("acme", "cart", "nobody")]
    with service_db.transaction() as session:
        found = EventStore(session).load_many(wanted)
    assert {s: [e.version for e in held] for s, held in found.items()} == {
        streams[7]: [1, 2],
        streams[9]: [1, 2],
    }

    plan = explain(service_db, lambda s: EventStore(s).load_many(wanted), "events")
    if service_db.is_sqlite:
        assert "SEARCH events USING INDEX" in plan and "(stream_id=?)" in plan, plan
        assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan  # nor a sort
    else:
        assert "uq_events_stream_version" in plan and "Seq Scan" not in plan, plan
