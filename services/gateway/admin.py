"""Operator commands on the gateway's database, run while the gateway may be down.

`python -m services.gateway.admin ensure-tenant --tenant demo --env-file .layercake/demo.env`
is what `make run` calls before it starts the services: it migrates the database,
creates the tenant and its `admin` person principal if missing, and makes sure the
env file holds a working key of it. The other commands manage principals, roles and
keys as the admin RPCs do, each recorded with `--actor` as the acting principal.
It reads the same settings as the service (`LAYERCAKE_GATEWAY_DATABASE_URL`, ...).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import nats
import typer
from sqlalchemy import func, select

from services.gateway import handlers
from services.gateway.bootstrap import MIGRATIONS, PROJECTIONS
from services.gateway.domain.accounts import KeyView, PrincipalView
from services.gateway.domain.commands import (
    CreatePrincipal,
    EnsureTenant,
    GrantRole,
    IssueApiKey,
    RevokeApiKey,
    RevokeRole,
)
from services.gateway.ports import GatewayUnitOfWork
from services.gateway.store.unit_of_work import SqlGatewayUnitOfWork
from services.kernel.clock import SystemClock
from services.kernel.config import ServiceSettings, load_settings
from services.kernel.errors import ConcurrencyError, ConfigError, LayercakeError
from services.kernel.messaging.relay import OutboxRelay
from services.kernel.pagination import Page
from services.kernel.principals import Actor, Role
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.schema import outbox
from services.kernel.store.unit_of_work import UnitOfWorkFactory

OPERATOR = "system:gateway-admin"
KEY_VAR = "LAYERCAKE_API_KEY"
TENANT_VAR = "LAYERCAKE_TENANT"
RELAY_TIMEOUT = 5.0  # seconds to publish the command's events before leaving them to a gateway

T = TypeVar("T")

app = typer.Typer(
    help="Gateway operator commands: tenants, principals, roles and API keys.",
    no_args_is_help=True,
    add_completion=False,
)

Tenant = Annotated[str, typer.Option("--tenant", help="Tenant id, e.g. demo.")]
PrincipalId = Annotated[str, typer.Option("--principal", help="Principal id, e.g. ann.")]
RoleName = Annotated[
    str, typer.Option("--role", help=f"One of {', '.join(r.value for r in Role)}.")
]
Scopes = Annotated[
    list[str],
    typer.Option(
        "--scopes",
        help="Scopes (repeat or comma-separate), e.g. ingest,profiles:read; "
        "default: all the principal's roles grant.",
    ),
]


@app.callback()
def acting(
    ctx: typer.Context,
    actor: Annotated[
        str,
        typer.Option("--actor", help="Acting principal recorded on the events (kind:id)."),
    ] = OPERATOR,
) -> None:
    """Every command acts as `--actor`, recorded on each event it causes."""
    try:
        ctx.obj = Actor.parse(actor)
    except ValueError as e:
        typer.echo(f"error: --actor: {e}", err=True)
        raise typer.Exit(2) from e


def _split(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(s.strip() for v in values for s in v.split(",") if s.strip())


def _run(work: Callable[[GatewayUnitOfWork], T], attempts: int = 3) -> T:
    """Migrates, then runs `work` in a unit of work, retrying a lost optimistic lock."""
    try:
        settings = load_settings("gateway")
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    db = Database(settings.database_url, workers=1)
    try:
        migrate(db.engine, MIGRATIONS)
        uow = UnitOfWorkFactory(db.sessions, SystemClock(), PROJECTIONS, kind=SqlGatewayUnitOfWork)
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
    """Publishes what the command recorded (a revoked key or role), so every running gateway
    drops it from its cache now. Without NATS the events wait in the outbox: the next gateway
    relay to run publishes them, and no gateway is running to hold a stale cache meanwhile."""
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
    """Replaces or appends `updates` as `export NAME=value` (so `source FILE` hands them to the
    commands run after it), keeps other lines; atomic, readable by the owner only."""
    lines = path.read_text().splitlines() if path.exists() else []
    pending = dict(updates)
    out: list[str] = []
    for line in lines:
        name = line.strip().removeprefix("export ").partition("=")[0].strip()
        if name in pending:
            out.append(f"export {name}={pending.pop(name)}")
        else:
            out.append(line)
    out += [f"export {name}={value}" for name, value in pending.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(out) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@app.command("ensure-tenant")
def ensure_tenant(
    ctx: typer.Context,
    tenant: Tenant,
    env_file: Annotated[
        Path, typer.Option("--env-file", help="Where to keep the key (LAYERCAKE_API_KEY=...).")
    ],
    principal: Annotated[
        str, typer.Option("--principal", help="The admin person principal.")
    ] = "admin",
    scopes: Scopes = [],  # noqa: B006 (typer reads the default, never mutates it)
    display_name: Annotated[str, typer.Option(help="Human name of a new tenant.")] = "",
) -> None:
    """Create the tenant and its admin principal if missing, and make sure ENV_FILE holds a
    key of that principal that works."""
    current = read_env_file(env_file).get(KEY_VAR, "")
    cmd = EnsureTenant(tenant, principal, _split(scopes), current, display_name)
    key, issued = _run(lambda uow: handlers.ensure_tenant(uow, cmd, ctx.obj))
    if issued:
        write_env_file(env_file, {KEY_VAR: key.text, TENANT_VAR: key.tenant_id})
    what = "issued a new key" if issued else "kept the key"
    typer.echo(f"tenant {key.tenant_id}: {what} {_key_line(key.key)}", err=True)
    typer.echo(key.text)


@app.command("create-principal")
def create_principal(
    ctx: typer.Context,
    tenant: Tenant,
    principal: PrincipalId,
    kind: Annotated[str, typer.Option("--kind", help="person or system.")] = "person",
    roles: Annotated[
        list[str], typer.Option("--roles", help="First roles (repeat or comma-separate).")
    ] = [],  # noqa: B006
    display_name: Annotated[str, typer.Option(help="Human name.")] = "",
) -> None:
    """Create a principal (a person or a system) of a tenant, with its first roles."""
    cmd = CreatePrincipal(tenant, principal, kind, display_name, _split(roles))
    view = _run(lambda uow: handlers.create_principal(uow, cmd, ctx.obj))
    typer.echo(f"tenant {tenant}: created {_principal_line(view)}", err=True)


@app.command("grant-role")
def grant_role(ctx: typer.Context, tenant: Tenant, principal: PrincipalId, role: RoleName) -> None:
    """Grant a principal a role."""
    cmd = GrantRole(tenant, principal, role)
    view = _run(lambda uow: handlers.grant_role(uow, cmd, ctx.obj))
    typer.echo(f"tenant {tenant}: {_principal_line(view)}", err=True)


@app.command("revoke-role")
def revoke_role(ctx: typer.Context, tenant: Tenant, principal: PrincipalId, role: RoleName) -> None:
    """Revoke a role; on every running gateway the principal's keys lose what only it
    granted from the next call on."""
    cmd = RevokeRole(tenant, principal, role)
    view = _run(lambda uow: handlers.revoke_role(uow, cmd, ctx.obj))
    typer.echo(f"tenant {tenant}: {_principal_line(view)}", err=True)


@app.command("issue-key")
def issue_key(
    ctx: typer.Context,
    tenant: Tenant,
    principal: PrincipalId,
    scopes: Scopes = [],  # noqa: B006
    display_name: Annotated[str, typer.Option(help="Label of the key.")] = "",
) -> None:
    """Issue an API key for a principal and print it (it is shown only once)."""
    cmd = IssueApiKey(tenant, principal, _split(scopes), display_name)
    key = _run(lambda uow: handlers.issue_api_key(uow, cmd, ctx.obj))
    typer.echo(f"tenant {key.tenant_id}: issued {_key_line(key.key)}", err=True)
    typer.echo(key.text)


@app.command("revoke-key")
def revoke_key(
    ctx: typer.Context,
    tenant: Tenant,
    key_id: Annotated[str, typer.Option("--key-id", help="The id part of lc_<key_id>_...")],
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "",
) -> None:
    """Revoke an API key; every running gateway refuses it from the next call on."""
    cmd = RevokeApiKey(tenant, key_id, reason)
    _run(lambda uow: handlers.revoke_api_key(uow, cmd, ctx.obj))
    typer.echo(f"tenant {tenant}: revoked {key_id}", err=True)


@app.command("list")
def list_all(
    tenant: Tenant,
    output: Annotated[str, typer.Option("-o", "--output", help="text or json.")] = "text",
) -> None:
    """List a tenant's principals, their roles and their keys."""
    found = _run(lambda uow: _listing(uow, tenant))
    if output == "json":
        typer.echo(json.dumps(found, indent=2))
        return
    for p in found:
        typer.echo(f"{p['kind']}:{p['principal_id']}  roles: {' '.join(p['roles']) or '-'}")
        for k in p["keys"]:
            state = "revoked" if k["revoked"] else " ".join(k["effective_scopes"]) or "-"
            typer.echo(f"  key {k['key_id']}  {state}")


def _listing(uow: GatewayUnitOfWork, tenant: str) -> list[dict[str, Any]]:
    principals = _all(lambda token: handlers.list_principals(uow, tenant, 0, token))
    keys = _all(lambda token: handlers.list_api_keys(uow, tenant, "", 0, token))
    return [
        {
            "principal_id": p.principal_id,
            "kind": p.principal.actor.kind.value,
            "display_name": p.display_name,
            "roles": sorted(r.value for r in p.principal.roles),
            "keys": [
                {
                    "key_id": k.key_id,
                    "scopes": sorted(s.value for s in k.scopes),
                    "effective_scopes": sorted(s.value for s in k.effective_scopes),
                    "revoked": k.revoke_time is not None,
                }
                for k in keys
                if k.principal.actor.id == p.principal_id
            ],
        }
        for p in principals
    ]


def _all(page: Callable[[str], Page[T]]) -> list[T]:
    items: list[T] = []
    token = ""
    while True:
        found = page(token)
        items += found.items
        token = found.next_page_token
        if not token:
            return items


def _principal_line(view: PrincipalView) -> str:
    roles = " ".join(sorted(view.principal.roles)) or "no role"
    return f"{view.principal.actor} ({roles})"


def _key_line(key: KeyView) -> str:
    return f"{key.key_id} of {key.principal.actor} ({' '.join(sorted(key.scopes))})"


def main() -> None:
    app(prog_name=f"{Path(sys.executable).name} -m services.gateway.admin")


if __name__ == "__main__":
    main()
