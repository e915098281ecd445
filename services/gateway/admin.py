"""Operator commands on the gateway's database, run while the gateway may be down.

`python -m services.gateway.admin ensure-tenant --tenant demo --env-file .layercake/demo.env`
is what `make run` calls before it starts the services: it migrates the database,
creates the tenant if missing and makes sure the env file holds a working key.
It reads the same settings as the service (`LAYERCAKE_GATEWAY_DATABASE_URL`, ...).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, TypeVar

import nats
import typer
from sqlalchemy import func, select

from services.gateway import handlers
from services.gateway.bootstrap import MIGRATIONS, PROJECTIONS
from services.gateway.domain.commands import EnsureTenant, IssueApiKey, RevokeApiKey
from services.kernel.clock import SystemClock
from services.kernel.config import ServiceSettings, load_settings
from services.kernel.errors import ConcurrencyError, ConfigError, LayercakeError
from services.kernel.messaging.relay import OutboxRelay
from services.kernel.principals import Actor
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.schema import outbox
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory

ACTOR = Actor.system("gateway-admin")
KEY_VAR = "LAYERCAKE_API_KEY"
TENANT_VAR = "LAYERCAKE_TENANT"
RELAY_TIMEOUT = 5.0  # seconds to publish the command's events before leaving them to a gateway

T = TypeVar("T")

app = typer.Typer(
    help="Gateway operator commands: tenants and API keys.",
    no_args_is_help=True,
    add_completion=False,
)

Tenant = Annotated[str, typer.Option("--tenant", help="Tenant id, e.g. demo.")]
Scopes = Annotated[
    list[str],
    typer.Option(
        "--scopes", help="Scopes (repeat or comma-separate): ingest, profiles:read, admin."
    ),
]


def _scopes(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(s.strip() for v in values for s in v.split(",") if s.strip())


def _run(work: Callable[[UnitOfWork], T], attempts: int = 3) -> T:
    """Migrates, then runs `work` in a unit of work, retrying a lost optimistic lock."""
    try:
        settings = load_settings("gateway")
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    db = Database(settings.database_url, workers=1)
    try:
        migrate(db.engine, MIGRATIONS)
        uow = UnitOfWorkFactory(db.sessions, SystemClock(), PROJECTIONS)
        for attempt in range(1, attempts + 1):
            try:
                with uow() as unit:
                    result = work(unit)
                _relay(settings, db)
                return result
            except ConcurrencyError:
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")
    except LayercakeError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from e
    finally:
        db.dispose()


def _relay(settings: ServiceSettings, db: Database) -> None:
    """Publishes what the command recorded (a revoked key), so every running gateway drops it
    from its cache now. Without NATS the events wait in the outbox: the next gateway relay
    to run publishes them, and no gateway is running to hold a stale cache meanwhile."""
    with db.transaction() as session:
        if not session.execute(select(func.count()).select_from(outbox)).scalar_one():
            return

    async def quiet(e: Exception) -> None:
        pass

    async def publish() -> int:
        nc = await nats.connect(
            settings.nats_url, connect_timeout=1, allow_reconnect=False, error_cb=quiet
        )
        try:
            return await OutboxRelay(db, nc.jetstream()).flush()
        finally:
            await nc.close()

    try:
        asyncio.run(asyncio.wait_for(publish(), RELAY_TIMEOUT))
    except Exception as e:
        typer.echo(f"note: NATS unreachable ({e!r}); a running gateway relays the change", err=True)


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=value` lines (an `export ` prefix and quotes allowed); {} when there is no file."""
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip().removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        if sep and name and not name.startswith("#"):
            values[name.strip()] = value.strip().strip("'\"")
    return values


def write_env_file(path: Path, updates: dict[str, str]) -> None:
    """Replaces or appends `updates`, keeps other lines; atomic, readable by the owner only."""
    lines = path.read_text().splitlines() if path.exists() else []
    pending = dict(updates)
    out: list[str] = []
    for line in lines:
        name = line.strip().removeprefix("export ").partition("=")[0].strip()
        if name in pending:
            out.append(f"{name}={pending.pop(name)}")
        else:
            out.append(line)
    out += [f"{name}={value}" for name, value in pending.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(out) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@app.command("ensure-tenant")
def ensure_tenant(
    tenant: Tenant,
    env_file: Annotated[
        Path, typer.Option("--env-file", help="Where to keep the key (LAYERCAKE_API_KEY=...).")
    ],
    scopes: Scopes = ["admin"],  # noqa: B006 (typer reads the default, never mutates it)
    display_name: Annotated[str, typer.Option(help="Human name of a new tenant.")] = "",
) -> None:
    """Create the tenant if missing and make sure ENV_FILE holds a key that works for it."""
    current = read_env_file(env_file).get(KEY_VAR, "")
    cmd = EnsureTenant(tenant, _scopes(scopes), current, display_name)
    key, issued = _run(lambda uow: handlers.ensure_tenant(uow, cmd, ACTOR))
    if issued:
        write_env_file(env_file, {KEY_VAR: key.text, TENANT_VAR: key.tenant_id})
    what = "issued a new key" if issued else "kept the key"
    typer.echo(f"tenant {key.tenant_id}: {what} {key.key_id} ({' '.join(key.scopes)})", err=True)
    typer.echo(key.text)


@app.command("issue-key")
def issue_key(
    tenant: Tenant,
    scopes: Scopes,
    display_name: Annotated[str, typer.Option(help="Label of the key.")] = "",
) -> None:
    """Issue a new API key for an existing tenant and print it (it is shown only once)."""
    cmd = IssueApiKey(tenant, _scopes(scopes), display_name)
    key = _run(lambda uow: handlers.issue_api_key(uow, cmd, ACTOR))
    typer.echo(f"tenant {key.tenant_id}: issued {key.key_id} ({' '.join(key.scopes)})", err=True)
    typer.echo(key.text)


@app.command("revoke-key")
def revoke_key(
    tenant: Tenant,
    key_id: Annotated[str, typer.Option("--key-id", help="The id part of lc_<key_id>_...")],
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "",
) -> None:
    """Revoke an API key; every running gateway refuses it from the next call on."""
    _run(lambda uow: handlers.revoke_api_key(uow, RevokeApiKey(tenant, key_id, reason), ACTOR))
    typer.echo(f"tenant {tenant}: revoked {key_id}", err=True)


def main() -> None:
    app(prog_name=f"{Path(sys.executable).name} -m services.gateway.admin")


if __name__ == "__main__":
    main()
