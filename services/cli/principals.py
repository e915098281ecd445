"""`layercake principal ...` and `layercake key ...`: the gateway's admin RPCs (scope `admin`).

Every change carries a fresh request_id, so a retry after a lost answer applies once;
reads take `-o json`. The gateway acts in the tenant of the calling key only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer
from google.protobuf import json_format
from rich.markup import escape
from rich.table import Table

from layercake.gateway.v1 import gateway_service_pb2 as pb
from layercake.gateway.v1 import gateway_service_pb2_grpc as pb_grpc
from layercake.gateway.v1 import principal_pb2
from services.cli.target import Output, OutputOption, Target, err, new_request_id, out
from services.kernel.principals import Role

principal_app = typer.Typer(
    help="Principals (people and systems) and their roles.", no_args_is_help=True
)
key_app = typer.Typer(help="API keys of principals.", no_args_is_help=True)

ROLES = ", ".join(r.value for r in Role)


def _split(values: Sequence[str]) -> list[str]:
    return [s.strip() for v in values for s in v.split(",") if s.strip()]


def _principal_line(p: principal_pb2.Principal) -> str:
    return f"{p.kind}:{p.principal_id} ({' '.join(p.roles) or 'no role'})"


@principal_app.command("create")
def create_principal(
    ctx: typer.Context,
    principal_id: Annotated[str, typer.Argument(help="Id, unique in the tenant, e.g. ann.")],
    kind: Annotated[str, typer.Option(help="person or system.")] = "person",
    roles: Annotated[
        list[str], typer.Option("--role", help=f"Roles (repeat or comma-separate): {ROLES}.")
    ] = [],  # noqa: B006 (typer reads the default, never mutates it)
    display_name: Annotated[str, typer.Option(help="Human name.")] = "",
) -> None:
    """Create a principal with its first roles."""
    target: Target = ctx.obj
    request = pb.CreatePrincipalRequest(
        request_id=new_request_id(),
        principal_id=principal_id,
        kind=kind,
        display_name=display_name,
        roles=_split(roles),
    )
    reply = target.call(pb_grpc.GatewayServiceStub, lambda s: s.CreatePrincipal, request)
    err.print(f"created {escape(_principal_line(reply.principal))}", markup=False)


@principal_app.command("grant")
def grant_role(
    ctx: typer.Context,
    principal_id: Annotated[str, typer.Argument(help="Principal id.")],
    role: Annotated[str, typer.Argument(help=ROLES)],
) -> None:
    """Grant a principal a role."""
    target: Target = ctx.obj
    request = pb.GrantRoleRequest(request_id=new_request_id(), principal_id=principal_id, role=role)
    reply = target.call(pb_grpc.GatewayServiceStub, lambda s: s.GrantRole, request)
    err.print(_principal_line(reply.principal), markup=False)


@principal_app.command("revoke")
def revoke_role(
    ctx: typer.Context,
    principal_id: Annotated[str, typer.Argument(help="Principal id.")],
    role: Annotated[str, typer.Argument(help=ROLES)],
) -> None:
    """Revoke a role: the principal's keys lose what only it granted, from their next call."""
    target: Target = ctx.obj
    request = pb.RevokeRoleRequest(
        request_id=new_request_id(), principal_id=principal_id, role=role
    )
    reply = target.call(pb_grpc.GatewayServiceStub, lambda s: s.RevokeRole, request)
    err.print(_principal_line(reply.principal), markup=False)


@principal_app.command("list")
def list_principals(ctx: typer.Context, output: OutputOption = Output.table) -> None:
    """List the tenant's principals and their roles."""
    target: Target = ctx.obj
    found, _ = target.listing(
        pb_grpc.GatewayServiceStub,
        lambda s: s.ListPrincipals,
        pb.ListPrincipalsRequest(),
        lambda page: page.principals,
    )
    if output is Output.json:
        out.print_json(data={"principals": [_dict(p) for p in found]})
        return
    table = Table("principal", "kind", "roles", "name", title_justify="left")
    for p in found:
        table.add_row(
            *(escape(v) for v in (p.principal_id, p.kind, " ".join(p.roles), p.display_name))
        )
    out.print(table)


@key_app.command("create")
def issue_key(
    ctx: typer.Context,
    principal: Annotated[str, typer.Option("--principal", help="The principal the key acts as.")],
    scopes: Annotated[
        list[str],
        typer.Option(
            "--scopes", help="Scopes (repeat or comma-separate); default: all its roles grant."
        ),
    ] = [],  # noqa: B006
    display_name: Annotated[str, typer.Option(help="Label of the key.")] = "",
) -> None:
    """Issue an API key for a principal and print it (it is shown only once)."""
    target: Target = ctx.obj
    request = pb.IssueApiKeyRequest(
        request_id=new_request_id(),
        principal_id=principal,
        scopes=_split(scopes),
        display_name=display_name,
    )
    reply = target.call(pb_grpc.GatewayServiceStub, lambda s: s.IssueApiKey, request)
    key = reply.api_key
    err.print(f"issued {key.key_id} of {principal} ({' '.join(key.scopes)})", markup=False)
    out.print(reply.key, markup=False, highlight=False)


@key_app.command("revoke")
def revoke_key(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The id part of lc_<key_id>_...")],
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "",
) -> None:
    """Revoke an API key: refused from its next call."""
    target: Target = ctx.obj
    request = pb.RevokeApiKeyRequest(request_id=new_request_id(), key_id=key_id, reason=reason)
    reply = target.call(pb_grpc.GatewayServiceStub, lambda s: s.RevokeApiKey, request)
    err.print(f"revoked {reply.api_key.key_id} of {reply.api_key.principal_id}", markup=False)


@key_app.command("list")
def list_keys(
    ctx: typer.Context,
    principal: Annotated[str, typer.Option("--principal", help="Only this principal's.")] = "",
    output: OutputOption = Output.table,
) -> None:
    """List the tenant's API keys (never their secrets) and what each may do now."""
    target: Target = ctx.obj
    found, _ = target.listing(
        pb_grpc.GatewayServiceStub,
        lambda s: s.ListApiKeys,
        pb.ListApiKeysRequest(principal_id=principal),
        lambda page: page.api_keys,
    )
    if output is Output.json:
        out.print_json(data={"api_keys": [_dict(k) for k in found]})
        return
    table = Table("key", "principal", "may use now", "issued", title_justify="left")
    for k in found:
        state = "revoked" if k.HasField("revoke_time") else " ".join(k.effective_scopes) or "-"
        table.add_row(
            *(escape(v) for v in (k.key_id, k.principal_id, state, k.issue_time.ToJsonString()))
        )
    out.print(table)


def _dict(message: object) -> dict[str, object]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)  # type: ignore[arg-type]
