"""Operator commands on the decision service's database, run while the service may be down.

`python -m services.decision export-training --tenant demo --out t.csv` writes the
training table, as Parquet for an `--out` ending `.parquet` (also `python -m
services.decision.admin export-training`). `python -m services.decision.admin
install-example --tenant demo` puts the drinks example live (`make run` does, for `demo`).
`python -m services.decision.admin refill-features [--tenant demo]` restores text and boolean
traits the features projection stamped without keeping them (`refill.py`).
`python -m services.decision.admin register services/decision/models/propensity.onnx
--tenant demo --name propensity --version 1 --features a,b,c` checks the model as the
RegisterModel RPC does (signature against the features, SHA-256) and stores it as
`registered`; promotion then goes through PromoteModel and its approval. It reads the
same settings as the service (`LAYERCAKE_DECISION_DATABASE_URL`, ...).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from services.decision import example, export, handlers, scoring
from services.decision.bootstrap import MIGRATIONS, PROJECTIONS
from services.decision.domain.models import check_names
from services.decision.refill import refill_features
from services.decision.store.model_files import configured_model_dir
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork, decision_unit_of_work
from services.kernel.clock import SystemClock
from services.kernel.config import ServiceSettings, load_settings
from services.kernel.errors import ConfigError, InvalidArgument, LayercakeError
from services.kernel.messaging.connection import connect
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from services.kernel.tenants import is_tenant_id

app = typer.Typer(help="Decision operator commands: models, training table.", add_completion=False)


def _units() -> type[SqlDecisionUnitOfWork]:
    """The service's unit of work, model bytes where LAYERCAKE_DECISION_MODEL_DIR says."""
    return decision_unit_of_work(configured_model_dir())


@app.callback()
def commands() -> None:
    """Decision operator commands."""


@app.command()
def register(
    file: Annotated[Path, typer.Argument(help="The ONNX file.", exists=True, dir_okay=False)],
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id, e.g. demo.")],
    name: Annotated[str, typer.Option("--name", help="Model name, e.g. propensity.")],
    version: Annotated[str, typer.Option("--version", help="Version label, e.g. 2026-03-01.1.")],
    features: Annotated[
        str,
        typer.Option("--features", help="Feature names in input column order, comma-separated."),
    ],
    owner: Annotated[str, typer.Option("--owner", help="Who is accountable for it.")] = "",
    description: Annotated[str, typer.Option("--description")] = "",
) -> None:
    """Registers an ONNX model version (stage `registered`)."""
    content = file.read_bytes()
    names = tuple(f.strip() for f in features.split(",") if f.strip())
    try:
        if not is_tenant_id(tenant):
            raise InvalidArgument.field("tenant", "must be a tenant id, e.g. demo")
        bad = check_names(name, version, names)
        if bad:
            raise InvalidArgument(bad)
        model = scoring.checked_model(tenant, name, version, content, names, owner, description)
        settings = load_settings("decision")
    except (LayercakeError, ConfigError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    db = Database(settings.database_url, workers=1)
    try:
        migrate(db.engine, MIGRATIONS)
        with UnitOfWorkFactory(
            db.sessions,
            SystemClock(),
            PROJECTIONS,
            kind=_units(),
        )() as uow:
            stored = handlers.register_model(uow, model, content)
    except LayercakeError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from e
    finally:
        db.dispose()
    inputs = ", ".join(f"{i.name}{list(i.shape)}" for i in stored.signature.inputs)
    typer.echo(f"registered {name} {version} sha256={stored.sha256} inputs: {inputs}")


@app.command("install-example")
def install_example(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id, e.g. demo.")],
) -> None:
    """Puts the drinks example live for the tenant: its catalog, and its shipped model as
    the `drinks` champion (each approved); a part already live is left as it is."""
    db = _database(tenant)
    try:
        migrate(db.engine, MIGRATIONS)
        units = UnitOfWorkFactory(
            db.sessions,
            SystemClock(),
            PROJECTIONS,
            kind=_units(),
        )
        installed = example.install_drinks(units, tenant)
    except LayercakeError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from e
    finally:
        db.dispose()
    typer.echo(f"drinks example: {', '.join(installed) or 'already live'}")


@app.command("export-training")
def export_training(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id, e.g. demo.")],
    out: Annotated[
        Path,
        typer.Option("--out", help="CSV file to write (Parquet: *.parquet); - for stdout."),
    ] = Path("-"),
) -> None:
    """Writes the training table (decisions joined to their outcomes) as CSV or Parquet."""
    db = _database(tenant)
    try:
        migrate(db.engine, MIGRATIONS)
        with SqlDecisionUnitOfWork(db.read_sessions(), SystemClock()) as uow:
            rows = handlers.training_rows(uow, tenant)
    finally:
        db.dispose()
    if str(out) == "-":
        count = export.write_csv(rows, sys.stdout)
    elif out.suffix == ".parquet":
        count = export.write_parquet(rows, out)
    else:
        with out.open("w", newline="", encoding="utf-8") as f:
            count = export.write_csv(rows, f)
    typer.echo(f"exported {count} rows", err=True)


@app.command("refill-features")
def refill(
    tenant: Annotated[
        str, typer.Option("--tenant", help="One tenant's profiles; every tenant's without.")
    ] = "",
) -> None:
    """Restores the text and boolean traits the features projection stamped but did not
    keep (before it kept text) from identity's stream; restart the replicas afterwards."""
    if tenant and not is_tenant_id(tenant):
        typer.echo("error: tenant: must be a tenant id, e.g. demo", err=True)
        raise typer.Exit(2)
    settings = _settings()
    db = Database(settings.database_url, workers=1)
    try:
        migrate(db.engine, MIGRATIONS)
        read, restored = asyncio.run(_refill(db, settings.nats_url, tenant or "*"))
    finally:
        db.dispose()
    typer.echo(f"read {read} messages of identity's stream; {restored} changes restored values")


async def _refill(db: Database, nats_url: str, tenant: str) -> tuple[int, int]:
    nc = await connect(nats_url, "decision-refill-features")
    try:
        units = UnitOfWorkFactory(db.sessions, SystemClock(), PROJECTIONS, kind=_units())
        return await refill_features(nc.jetstream(), ServiceLayer(db, units), tenant)
    finally:
        await nc.close()


def _database(tenant: str) -> Database:
    """The service's database for a command on `tenant`; exits 2 for a bad tenant id or
    settings."""
    if not is_tenant_id(tenant):
        typer.echo("error: tenant: must be a tenant id, e.g. demo", err=True)
        raise typer.Exit(2)
    return Database(_settings().database_url, workers=1)


def _settings() -> ServiceSettings:
    """The service's settings; exits 2 for bad ones."""
    try:
        return load_settings("decision")
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e


def main() -> None:
    app(prog_name="python -m services.decision.admin")


if __name__ == "__main__":
    main()
