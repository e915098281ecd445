"""`python -m services.decision export-training`: the training table from the store, as CSV
and as Parquet (the same rows and columns, typed)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from services.decision import handlers
from services.decision.admin import app
from services.decision.bootstrap import MIGRATIONS, PROJECTIONS
from services.decision.domain.arbitration import Scored
from services.decision.domain.decisions import (
    DecideCommand,
    Decision,
    ModelUsed,
    Outcome,
    OutcomeKind,
)
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.clock import FixedClock
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.unit_of_work import UnitOfWorkFactory

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)


def test_the_export_joins_outcomes_to_the_decided_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'decision.db'}"
    monkeypatch.setenv("LAYERCAKE_DECISION_DATABASE_URL", url)
    db = Database(url)
    try:
        migrate(db.engine, MIGRATIONS)
        units = UnitOfWorkFactory(
            db.sessions, FixedClock(AT), PROJECTIONS, kind=SqlDecisionUnitOfWork
        )
        for n, (tenant, actions) in enumerate(
            [("demo", ("water", "diet_soda")), ("other", ("water",))]
        ):
            with units() as uow:
                handlers.record_decisions(
                    uow,
                    [
                        Decision(
                            decision_id=f"d-{n}",
                            command=DecideCommand(tenant, "p-1", "drinks", {}),
                            decide_time=AT,
                            profile_version=1,
                            model=ModelUsed(),
                            fallback=True,
                            actions=tuple(Scored(a, 1.0, 2.0, 1.0, 1.0) for a in actions),
                            rows={a: {"age": 30.0} for a in actions},
                        )
                    ],
                )
        with units() as uow:
            handlers.record_outcome(
                uow, Outcome("demo", "d-0", "diet_soda", OutcomeKind.CLICKED, AT)
            )
    finally:
        db.dispose()

    out = tmp_path / "training.csv"
    result = CliRunner().invoke(app, ["export-training", "--tenant", "demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["decision_id"], r["action_id"], r["outcome"], r["label"]) for r in rows] == [
        ("d-0", "water", "", "0"),
        ("d-0", "diet_soda", "clicked", "1"),
    ]
    assert rows[0]["feature:age"] == "30.0" and rows[0]["score"] == "2.0"

    parquet = tmp_path / "training.parquet"
    result = CliRunner().invoke(app, ["export-training", "--tenant", "demo", "--out", str(parquet)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(parquet)
    assert table.column_names == list(csv_header(out))
    assert table.to_pylist() == [
        {
            "decision_id": "d-0",
            "decide_time": AT,
            "profile_id": "p-1",
            "placement": "drinks",
            "action_id": action,
            "rank": rank,
            "explored": False,
            "model_name": "",
            "model_version": "",
            "propensity": 1.0,
            "score": 2.0,
            "outcome": outcome,
            "label": label,
            "feature:age": 30.0,
        }
        for action, rank, outcome, label in [("water", 1, None, 0), ("diet_soda", 2, "clicked", 1)]
    ]

    bad = CliRunner().invoke(app, ["export-training", "--tenant", "Not A Tenant"])
    assert bad.exit_code == 2


def csv_header(path: Path) -> list[str]:
    with path.open() as f:
        return next(csv.reader(f))
