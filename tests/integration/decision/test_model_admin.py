"""`python -m services.decision.admin register`: the operator's way to register a model file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.decision import handlers, training
from services.decision.admin import app
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.clock import SystemClock
from services.kernel.store.database import Database

SHIPPED = str(training.DEFAULT_PATH)


def test_register_checks_the_model_and_stores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'decision.db'}"
    monkeypatch.setenv("LAYERCAKE_DECISION_DATABASE_URL", url)
    args = ["register", SHIPPED, "--tenant", "demo", "--name", "propensity", "--version", "1"]
    ok = CliRunner().invoke(app, [*args, "--features", ",".join(training.FEATURES)])
    assert ok.exit_code == 0, ok.output
    assert "registered propensity 1 sha256=" in ok.output

    wrong = CliRunner().invoke(app, [*args[:-1], "2", "--features", "trait_orders_30d"])
    assert wrong.exit_code == 2
    assert "feature_names: declares 1 features" in wrong.output

    db = Database(url)
    try:
        with SqlDecisionUnitOfWork(db.read_sessions(), SystemClock()) as uow:
            model, content = handlers.model_file(uow, "demo", "propensity", "1")
            assert content == training.DEFAULT_PATH.read_bytes()
            assert model.feature_names == training.FEATURES
            with pytest.raises(Exception, match="no registered version"):
                handlers.model_file(uow, "demo", "propensity", "2")
    finally:
        db.dispose()
