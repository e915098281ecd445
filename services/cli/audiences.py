"""`layercake audience ...`: apply an audience from YAML, move it through its lifecycle,
list audiences and their members (the gateway's ProfilesService)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from layercake.gateway.v1 import profiles_service_pb2 as pb
from layercake.gateway.v1 import profiles_service_pb2_grpc as pb_grpc
from services.cli.lifecycle import Lifecycle, add_lifecycle, calls_by_name, id_field, version_line
from services.cli.target import (
    Output,
    OutputOption,
    Target,
    new_request_id,
    out,
    print_json,
    print_table,
    read_text,
)

audience_app = typer.Typer(help="Audiences: apply, lifecycle, list, members.", no_args_is_help=True)
Stub = pb_grpc.ProfilesServiceStub
AudienceId = Annotated[str, typer.Argument(help="The audience's id.")]


@audience_app.command("apply")
def apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="YAML: audience, rule, owner, description...")],
    reason: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
) -> None:
    """Create the audience or save its draft from FILE."""
    target: Target = ctx.obj
    request = pb.ApplyAudienceRequest(
        request_id=new_request_id(), yaml=read_text(file), reason=reason
    )
    reply = target.call(Stub, lambda s: s.ApplyAudience, request)
    out.print(version_line(reply.version), markup=False, highlight=False)


add_lifecycle(
    audience_app,
    Lifecycle(
        "Audience",
        "AUDIENCE_ID",
        "The audience's id.",
        calls_by_name(Stub, pb),
        id_field("audience_id"),
    ),
)


@audience_app.command("list")
def list_audiences(ctx: typer.Context, output: OutputOption = Output.table) -> None:
    """The tenant's audiences, their latest version and size."""
    target: Target = ctx.obj
    reply = target.call(Stub, lambda s: s.ListAudiences, pb.ListAudiencesRequest())
    if output is Output.json:
        print_json(reply)
        return
    print_table(
        "audiences",
        ("audience", "version", "state", "size", "owner"),
        (
            (
                a.version.asset_id,
                a.version.version,
                a.version.state,
                a.size,
                a.version.metadata.owner,
            )
            for a in reply.audiences
        ),
    )


@audience_app.command("members")
def members(
    ctx: typer.Context,
    audience_id: AudienceId,
    limit: Annotated[int, typer.Option(min=1, help="Members to show at most.")] = 100,
    output: OutputOption = Output.table,
) -> None:
    """The members of an audience, a page at a time up to --limit."""
    target: Target = ctx.obj
    found, last = target.listing(
        Stub,
        lambda s: s.ListAudienceMembers,
        pb.ListAudienceMembersRequest(audience_id=audience_id),
        lambda page: page.members,
        limit,
    )
    total = last.total_size
    shown = pb.ListAudienceMembersResponse(
        members=found, next_page_token=last.next_page_token, total_size=total
    )
    if output is Output.json:
        print_json(shown)
        return
    print_table(
        f"{audience_id}: {total} member(s)",
        ("profile", "audience version", "entered"),
        ((m.profile_id, m.audience_version, m.enter_time.ToJsonString()) for m in shown.members),
    )
