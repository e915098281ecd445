"""The decision log on the in-memory unit of work: decisions counted for caps, outcomes
joined by decision id (the heaviest kept), and the training table's exact rows."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from services.decision import handlers, mapping
from services.decision.domain.actions import ExposureCount
from services.decision.domain.arbitration import Scored
from services.decision.domain.decisions import (
    DecideCommand,
    Decision,
    ModelUsed,
    Outcome,
    OutcomeKind,
)
from services.decision.domain.models import Stage
from services.decision.export import write_csv
from services.decision.store.memory import InMemoryDecisionUnitOfWork, in_memory
from services.kernel.clock import FixedClock
from services.kernel.errors import NotFound
from services.kernel.messaging.envelope import Envelope
from services.kernel.store.memory import InMemoryDatabase

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
MODEL = ModelUsed("drinks", "1", Stage.CHAMPION)


def decision(decision_id: str, profile: str, actions: list[str], minutes: int) -> Decision:
    return Decision(
        decision_id=decision_id,
        command=DecideCommand(
            "acme", profile, "drinks", {"channel": "kiosk"}, request_id=f"r-{decision_id}"
        ),
        decide_time=NOW + timedelta(minutes=minutes),
        profile_version=3,
        model=MODEL,
        fallback=False,
        actions=tuple(Scored(a, 0.25, 2.0, 1.0, 1.0) for a in actions),
        rows={a: {"age": 30.0, f"product:{a}": 1.0} for a in actions},
    )


def outcome(decision_id: str, action: str, kind: OutcomeKind) -> Outcome:
    return Outcome("acme", decision_id, action, kind, NOW)


@pytest.fixture
def db() -> InMemoryDatabase:  # type: ignore[type-arg]
    db = in_memory(FixedClock(NOW))
    with InMemoryDecisionUnitOfWork(db) as uow:
        first = decision("d-2", "p-1", ["water", "soda"], 2)
        after = handlers.record_decisions(uow, [first, decision("d-1", "p-2", ["water"], 1)])
        assert sorted(after["acme"], key=str) == sorted(
            [
                ExposureCount("water", "", 2),
                ExposureCount("water", "p-1", 1),
                ExposureCount("water", "p-2", 1),
                ExposureCount("soda", "", 1),
                ExposureCount("soda", "p-1", 1),
            ],
            key=str,
        )
    with InMemoryDecisionUnitOfWork(db) as uow:  # a retried request's decision is kept once
        after = handlers.record_decisions(uow, [first, decision("d-3", "p-1", ["soda"], 3)])
        assert after == {"acme": [ExposureCount("soda", "", 2), ExposureCount("soda", "p-1", 2)]}
    return db


def test_each_decision_counts_its_actions_in_all_and_per_profile(db: InMemoryDatabase) -> None:  # type: ignore[type-arg]
    with InMemoryDecisionUnitOfWork(db) as uow:
        counts = handlers.exposures(uow, "acme", "p-1", ["water", "soda", "tea"])
    assert (counts["water"].total, counts["water"].to_profile) == (2, 1)
    assert (counts["soda"].total, counts["soda"].to_profile) == (2, 2)
    assert "tea" not in counts
    made, counted = (
        "layercake.acme.decision.decision_made",
        "layercake.acme.decision.exposures_counted",
    )
    assert [m.subject for m in db.state.outbox] == [made, made, counted, made, counted]


def test_outcomes_keep_the_heaviest_and_count_a_first_positive_once(
    db: InMemoryDatabase,  # type: ignore[type-arg]
) -> None:
    with InMemoryDecisionUnitOfWork(db) as uow:
        assert handlers.record_outcome(uow, outcome("d-2", "water", OutcomeKind.CLICKED))
        assert handlers.record_outcome(uow, outcome("d-2", "water", OutcomeKind.CONVERTED))
        assert not handlers.record_outcome(uow, outcome("d-2", "water", OutcomeKind.IMPRESSION))
        assert handlers.record_outcome(uow, outcome("d-1", "water", OutcomeKind.DISMISSED))
        with pytest.raises(NotFound):
            handlers.record_outcome(uow, outcome("d-1", "soda", OutcomeKind.CLICKED))
        with pytest.raises(NotFound):
            handlers.record_outcome(uow, outcome("d-9", "water", OutcomeKind.CLICKED))
    with InMemoryDecisionUnitOfWork(db) as uow:
        counts = handlers.exposures(uow, "acme", "p-9", ["water"])
    assert counts["water"].positives == 1
    counted = [m for m in db.state.outbox if m.subject.endswith(".exposures_counted")]
    event = Envelope("e", counted[-1].type, "decision", "acme", NOW, counted[-1].payload, "s")
    assert mapping.counted_exposures(event) == [ExposureCount("water", "", 2, 1)]


def test_the_export_has_exactly_one_row_per_returned_action_with_its_outcome(
    db: InMemoryDatabase,  # type: ignore[type-arg]
) -> None:
    with InMemoryDecisionUnitOfWork(db) as uow:
        handlers.record_outcome(uow, outcome("d-2", "soda", OutcomeKind.CONVERTED))
        handlers.record_outcome(uow, outcome("d-1", "water", OutcomeKind.IMPRESSION))
    with InMemoryDecisionUnitOfWork(db) as uow:
        rows = handlers.training_rows(uow, "acme")
        assert handlers.training_rows(uow, "other") == []
    out = io.StringIO()
    assert write_csv(rows, out) == 4
    header = (
        "decision_id,decide_time,profile_id,placement,action_id,rank,explored,model_name,"
        "model_version,propensity,score,outcome,label,feature:age,feature:product:soda,"
        "feature:product:water"
    )
    assert out.getvalue().splitlines() == [
        header,
        "d-1,2026-03-02T08:31:00+00:00,p-2,drinks,water,1,0,drinks,1,0.25,0.5,impression,0,30.0,,1.0",
        "d-2,2026-03-02T08:32:00+00:00,p-1,drinks,water,1,0,drinks,1,0.25,0.5,,0,30.0,,1.0",
        "d-2,2026-03-02T08:32:00+00:00,p-1,drinks,soda,2,0,drinks,1,0.25,0.5,converted,1,30.0,1.0,",
        "d-3,2026-03-02T08:33:00+00:00,p-1,drinks,soda,1,0,drinks,1,0.25,0.5,,0,30.0,1.0,",
    ]
