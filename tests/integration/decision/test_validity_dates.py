"""An action outside its validity dates is never returned by Decide, and the answer says why:
one that ended (`expired`), one not started yet, beside one valid now; over gRPC, on a
clock the replica reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from nats.aio.client import Client

from layercake.decision.v1 import decision_service_pb2 as pb
from services.decision import catalog
from services.decision.bootstrap import PROJECTIONS
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.clock import FixedClock
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.decision.catalogs import publish_catalog
from tests.integration.decision.model_replicas import People, acting, replicas

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SHELF = catalog.read_catalog(
    """
owner: growth-team
placement: {placement_id: shelf, max_actions: 3}
actions:
  - {action_id: summer, placements: [shelf], value: 1.0,
     start_time: "2026-05-01T00:00:00Z", end_time: "2026-09-01T00:00:00Z"}
  - {action_id: spring, placements: [shelf], value: 9.0, end_time: "2026-06-01T12:00:00Z"}
  - {action_id: autumn, placements: [shelf], value: 9.0, start_time: "2026-09-01T00:00:00Z"}
"""
)


async def test_expired_and_future_actions_are_left_out_with_reasons(
    service_db: Database, nats_client: Client
) -> None:
    people = People(random_id("t-"))
    units = UnitOfWorkFactory(
        service_db.sessions, FixedClock(NOW), PROJECTIONS, kind=SqlDecisionUnitOfWork
    )
    publish_catalog(units, people, SHELF)
    async with replicas(service_db, nats_client, 1, FixedClock(NOW)) as (one,):
        answer = await one.stub.Decide(
            pb.DecideRequest(request_id=str(uuid.uuid4()), profile_id="p-1", placement="shelf"),
            metadata=acting(people.ann),
            timeout=10,
        )
    assert [a.action_id for a in answer.actions] == ["summer"]
    assert answer.fallback  # no model: ranked by value, the valid one alone
    reasons = {e.action_id: list(e.reasons) for e in answer.excluded}
    assert reasons == {
        "spring": ["expired: ended 2026-06-01T12:00:00+00:00"],  # the end is exclusive
        "autumn": ["not_started: starts 2026-09-01T00:00:00+00:00"],
    }
