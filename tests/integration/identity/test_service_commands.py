"""`python -m services.identity replay` and a bad setting, as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select

from services.identity import handlers
from services.identity.bootstrap import MIGRATIONS
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.tables import profile_identifiers, profiles
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from tests.integration.identity.conftest import identity_units


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = os.environ | {"LAYERCAKE_STATE_DIR": str(tmp_path)} | env
    return subprocess.run(
        [sys.executable, "-m", "services.identity", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_replay_command_rebuilds_a_lost_read_model(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'identity.db'}")
    migrate(db.engine, MIGRATIONS)
    keys = SqlProfileKeys.open(f"sqlite:///{tmp_path / 'identity-keys.db'}")  # the default
    uow = identity_units(db, keys)
    command = ApplyIngestedEvent(
        tenant_id="acme",
        message_id="m-1",
        event_time=datetime(2026, 3, 1, tzinfo=UTC),
        identifiers=(("cookie_id", "ck-1"),),
        traits={"plan": '"gold"', "first_name": '"Ann"'},
    )
    with uow() as u:
        handlers.apply_ingested_event(u, command, causation_id="c-1")
        u.commit()
    with db.transaction() as s:
        s.execute(delete(profile_identifiers))
        s.execute(delete(profiles))
    db.dispose()

    result = run(tmp_path, "replay")
    assert result.returncode == 0, result.stderr
    assert '"events": 2' in result.stderr  # created, received (its links and traits on it)

    db = Database(f"sqlite:///{tmp_path / 'identity.db'}")
    with identity_units(db, keys)() as u:
        profile = handlers.get_profile(u, "acme", "cookie_id:ck-1")
        stored = u.session.execute(select(profiles.c.traits)).scalar_one()
    db.dispose()
    keys.close()
    assert profile.traits["plan"].json_value == '"gold"'
    assert profile.traits["first_name"].json_value == '"Ann"'  # sealed again by the replay
    assert "Ann" not in stored


def test_a_bad_setting_stops_the_service_naming_the_variable(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", LAYERCAKE_IDENTITY_METRICS_PORT="lots")
    assert result.returncode == 2
    assert "LAYERCAKE_IDENTITY_METRICS_PORT='lots'" in result.stderr
    assert "Traceback" not in result.stderr


def test_serving_without_the_internal_secret_stops_naming_it(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", LAYERCAKE_INTERNAL_SECRET="")
    assert result.returncode == 2
    assert "LAYERCAKE_INTERNAL_SECRET" in result.stderr
    assert "Traceback" not in result.stderr
