"""Outcomes partners send as ingest events (a click, a purchase naming its decision)."""

from __future__ import annotations

from services.decision import handlers, mapping
from services.decision.ports import DecisionUnitOfWork
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.messaging.envelope import Envelope

DURABLE = "decision-outcomes"


def on_ingested(uow: DecisionUnitOfWork, envelope: Envelope) -> None:
    outcome = mapping.ingested_outcome(envelope)
    if outcome is not None:
        handlers.record_ingested_outcome(uow, outcome)


def outcomes_consumer() -> ConsumerSpec[DecisionUnitOfWork]:
    return ConsumerSpec(DURABLE, "INGEST", "layercake.*.ingest", on_ingested)
