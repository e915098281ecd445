"""Recorded answers of idempotent calls are kept for the retention, then purged by age."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from services.kernel.clock import FixedClock
from services.kernel.rpc import idempotency
from services.kernel.store.database import Database
from services.kernel.store.retention import Pruner, expired
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.integration.harness import explain
from tests.integration.kernel.test_idempotency import key, run_once, widget

KEEP = timedelta(days=7)


async def test_answers_older_than_the_retention_are_purged_in_batches(
    with_effects: Database, uow: UnitOfWorkFactory, tenant: str, clock: FixedClock
) -> None:
    old = [key(tenant) for _ in range(3)]
    for k in old:
        run_once(uow, k, widget("old"), "old")
    clock.advance(KEEP - timedelta(seconds=1))
    kept = key(tenant)
    run_once(uow, kept, widget("new"), "new")
    pruner = Pruner("answers", with_effects, clock, idempotency.purge, KEEP, batch=2)
    assert await pruner.run_once() == 0  # nothing is older than the retention yet

    clock.advance(timedelta(seconds=2))
    assert await pruner.run_once() == 3  # two rounds: a full batch, then a short one
    with uow() as u:
        assert [idempotency.recall(u.session, k, widget("old"), type(widget(""))) for k in old] == [
            None
        ] * 3
        assert idempotency.recall(u.session, kept, widget("new"), type(widget(""))) is not None
    assert await pruner.run_once() == 0


def test_the_purge_seeks_the_recorded_time_index(
    database: Database, clock: FixedClock, tenant: str
) -> None:
    """Without the index the purge would read the whole table every minute, in every
    service. The table holds a week of answers, none old enough: the purge finds none."""
    t = idempotency.requests
    now = clock.now()
    rows = [
        {
            "tenant_id": tenant,
            "method": "/m",
            "request_id": f"r{n}",
            "request_sha256": "",
            "response": b"",
            "recorded_time": now - timedelta(seconds=n * 120),
        }
        for n in range(5000)
    ]
    with database.transaction() as s:
        s.execute(insert(t), rows)
    query = expired(t, t.c.recorded_time, now - KEEP, 1000)
    plan = explain(database, lambda s: s.execute(query), t.name)
    assert "ix_idempotent_requests_recorded_time" in plan, plan
    assert "SCAN idempotent_requests" not in plan and "Seq Scan" not in plan, plan
