"""Outcomes partners send as ingest events, joined to their decisions by id."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import struct_pb2

from layercake.events.v1 import ingest_pb2
from services.decision import handlers
from services.decision.consumers.outcomes import on_ingested
from services.decision.domain.arbitration import Scored
from services.decision.domain.decisions import DecideCommand, Decision, ModelUsed, OutcomeKind
from services.decision.store.memory import InMemoryDecisionUnitOfWork, in_memory
from services.kernel.clock import FixedClock
from services.kernel.messaging.envelope import Envelope
from services.kernel.protobuf import to_timestamp

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def ingested(event: str, type_: str = "track", **properties: str) -> Envelope:
    props = struct_pb2.Struct()
    props.update(properties)
    message = ingest_pb2.EventIngested(
        tenant_id="acme",
        event=ingest_pb2.IngestEvent(
            message_id="m-1", type=type_, event=event, properties=props, timestamp=to_timestamp(NOW)
        ),
        receive_time=to_timestamp(NOW),
    )
    return Envelope(
        "e-1",
        "layercake.events.v1.EventIngested",
        "gateway",
        "acme",
        NOW,
        message.SerializeToString(),
        "layercake.acme.ingest",
    )


def test_an_ingested_click_or_purchase_joins_its_decision_and_others_pass() -> None:
    db = in_memory(FixedClock(NOW))
    decided = Decision(
        "d-1",
        DecideCommand("acme", "p-1", "drinks", {}),
        NOW,
        1,
        ModelUsed(),
        True,
        (Scored("water", 1.0, 1.0, 1.0, 1.0),),
    )
    with InMemoryDecisionUnitOfWork(db) as uow:
        handlers.record_decisions(uow, [decided])
    with InMemoryDecisionUnitOfWork(db) as uow:
        on_ingested(uow, ingested("page_viewed", decision_id="d-1", action_id="water"))
        on_ingested(
            uow, ingested("clicked", type_="identify", decision_id="d-1", action_id="water")
        )
        on_ingested(uow, ingested("clicked", decision_id="d-9", action_id="water"))  # unknown
        on_ingested(uow, ingested("clicked", decision_id="d-1"))  # no action
        assert uow.decisions.outcome_of("acme", "d-1", "water") is None
        on_ingested(uow, ingested("clicked", decision_id="d-1", action_id="water"))
        assert uow.decisions.outcome_of("acme", "d-1", "water") == OutcomeKind.CLICKED
        on_ingested(
            uow, ingested("order_placed", outcome="converted", decision_id="d-1", action_id="water")
        )
        uow.commit()
    rows = handlers.training_rows(InMemoryDecisionUnitOfWork(db), "acme")
    assert [(r.action_id, r.outcome, r.label) for r in rows] == [
        ("water", OutcomeKind.CONVERTED, 1)
    ]
