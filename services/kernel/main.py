"""The `python -m services.<name>` entrypoint every service shares: serve, migrate, replay."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable

from services.kernel.clock import SystemClock
from services.kernel.config import ServiceSettings, load_settings
from services.kernel.errors import ConfigError
from services.kernel.logs import configure_logging
from services.kernel.runtime import App, Runtime
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.projections import replay
from services.kernel.store.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


def main(service: str, build: Callable[[ServiceSettings], App]) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m services.{service}")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "migrate", "replay"],
        help="serve (default); migrate the schema; replay: rebuild read models from events",
    )
    args = parser.parse_args()
    try:
        settings = load_settings(service)
        app = build(settings)  # a service's own settings are validated here too
        if args.command == "serve":
            settings.internal_calls()  # refused here, before anything starts
    except ConfigError as e:
        print(f"layercake-{service}: {e}", file=sys.stderr)
        raise SystemExit(2) from e
    configure_logging(service, settings.log_level)
    if args.command == "serve":
        asyncio.run(Runtime(app, settings).serve())
        return
    db = Database(settings.database_url)
    migrate(db.engine, app.migrations)
    if args.command == "replay":
        with db.transaction() as session:
            count = replay(session, app.projections)
        log.info("replayed", extra={"events": count, "projections": len(app.projections)})
        if app.rebuild is not None:
            units = UnitOfWorkFactory(
                db.sessions, SystemClock(), app.projections, kind=app.unit_of_work
            )
            log.info("rebuilt", extra={"streams": app.rebuild(units)})
    db.dispose()
