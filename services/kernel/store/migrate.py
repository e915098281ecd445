"""Schema migrations through Alembic: the kernel's revisions, then the service's own."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

KERNEL_MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x6C6179657263616B  # "layercak"


def alembic_config(service_versions: Path | None, kernel: bool = True) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(KERNEL_MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    locations = [KERNEL_MIGRATIONS / "versions"] if kernel else []
    if service_versions is not None:
        locations.append(service_versions)
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    return cfg


def migrate(
    engine: Engine,
    service_versions: Path | None = None,
    target: str = "heads",
    kernel: bool = True,
) -> None:
    """Upgrades the database to the newest revisions (or to `target`); safe at every start.

    `kernel=False` for a store that holds none of the kernel's tables (identity's keys)."""
    cfg = alembic_config(service_versions, kernel)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # replicas starting together: one migrates, the others wait, then find nothing to do
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, target)
