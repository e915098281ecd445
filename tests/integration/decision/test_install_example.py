"""`python -m services.decision install-example`: what `make run` does for the demo tenant,
so a fresh machine serves the drinks example's model as champion."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.decision import handlers
from services.decision.admin import app
from services.decision.bootstrap import PROJECTIONS
from services.decision.domain.models import Stage
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.clock import SystemClock
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory


def test_the_drinks_example_goes_live_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'decision.db'}"
    monkeypatch.setenv("LAYERCAKE_DECISION_DATABASE_URL", url)
    first = CliRunner().invoke(app, ["install-example", "--tenant", "demo"])
    assert first.exit_code == 0, first.output
    assert "drinks example: catalog, model" in first.output
    again = CliRunner().invoke(app, ["install-example", "--tenant", "demo"])
    assert again.exit_code == 0, again.output
    assert "drinks example: already live" in again.output
    db = Database(url)
    try:
        units = UnitOfWorkFactory(
            db.sessions, SystemClock(), PROJECTIONS, kind=SqlDecisionUnitOfWork
        )
        with units() as uow:
            _, deployment = handlers.live_deployment(uow, "demo", "drinks")
            live = {(a.kind, a.asset_id) for a in handlers.live_catalog(uow, "demo")}
            approved = uow.assets.get("demo", "model", "drinks").live_version
    finally:
        db.dispose()
    assert deployment.champion == "1" and deployment.stage_of("1") == Stage.CHAMPION
    assert live == {("placement", "drinks"), ("action", "water"), ("action", "diet_soda")}
    assert approved is not None
