"""`layercake tenant create TENANT`: a new tenant and its first admin key. An operator
command, as `layercake up` is: it writes this machine's gateway database (the settings
the gateway reads: LAYERCAKE_STATE_DIR, LAYERCAKE_GATEWAY_DATABASE_URL), since no tenant's
key may make another tenant; so it needs no key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

tenant_app = typer.Typer(help="Tenants (an operator's, on this machine).", no_args_is_help=True)


@tenant_app.command("create")
def create_tenant(
    tenant: Annotated[str, typer.Argument(help="Its id: lower-case letters, digits, dashes.")],
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            help="Where to keep its admin key (LAYERCAKE_API_KEY=...); "
            "default .layercake/TENANT.env.",
        ),
    ] = None,
    display_name: Annotated[str, typer.Option(help="Its human name.")] = "",
) -> None:
    """Create a tenant and its admin (if missing); print the admin's key, kept in ENV_FILE.

    `source` ENV_FILE to act as the tenant's admin."""
    from services.gateway.admin import app as admin  # only here: the gateway's database

    where = env_file or Path(".layercake") / f"{tenant}.env"
    named = ["--display-name", display_name] if display_name else []
    args = ["ensure-tenant", "--tenant", tenant, "--env-file", str(where), *named]
    code = admin(args, prog_name="layercake tenant create", standalone_mode=False)
    if code:
        raise typer.Exit(code)
