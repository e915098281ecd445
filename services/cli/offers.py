"""`layercake offer ...`: apply a placement and its offers (actions) from one YAML file and
move each through its lifecycle, named `placement/<id>` or `action/<id>` (the gateway's
DecisionsService)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from layercake.gateway.v1 import decisions_service_pb2 as pb
from layercake.gateway.v1 import decisions_service_pb2_grpc as pb_grpc
from services.cli.lifecycle import Lifecycle, add_lifecycle, calls_by_name, version_line
from services.cli.target import Target, fail, new_request_id, out, read_text

offer_app = typer.Typer(
    help="Offers: a placement and its actions from YAML, and their lifecycle.",
    no_args_is_help=True,
)
Stub = pb_grpc.DecisionsServiceStub
KINDS = ("placement", "action")


@offer_app.command("apply")
def apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="YAML: owner, description, placement, actions.")],
    reason: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
) -> None:
    """Save a draft of FILE's placement and of each of its actions, in one transaction."""
    target: Target = ctx.obj
    request = pb.ApplyCatalogRequest(
        request_id=new_request_id(), yaml=read_text(file), reason=reason
    )
    reply = target.call(Stub, lambda s: s.ApplyCatalog, request)
    for version in reply.versions:
        out.print(version_line(version), markup=False, highlight=False)


def catalog_ids(ref: str) -> dict[str, str]:
    """`placement/<id>` or `action/<id>` as the request's kind and asset id."""
    kind, _, asset_id = ref.partition("/")
    if kind not in KINDS or not asset_id:
        fail(f"{ref!r}: name it placement/<id> or action/<id>", 2)
    return {"kind": kind, "asset_id": asset_id}


add_lifecycle(
    offer_app,
    Lifecycle(
        "CatalogAsset",
        "KIND/ID",
        "placement/<id> or action/<id>.",
        calls_by_name(Stub, pb),
        catalog_ids,
    ),
)
