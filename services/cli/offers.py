"""`layercake offer ...`: apply a placement and its offers (actions) from one YAML file,
move each through its lifecycle, named `placement/<id>` or `action/<id>`, and list or show
the offers (the gateway's DecisionsService)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from layercake.gateway.v1 import decisions_service_pb2 as pb
from layercake.gateway.v1 import decisions_service_pb2_grpc as pb_grpc
from services.cli.lifecycle import Lifecycle, add_lifecycle, calls_by_name, version_line
from services.cli.target import (
    Output,
    OutputOption,
    Target,
    fail,
    new_request_id,
    out,
    print_json,
    print_table,
    read_text,
)

offer_app = typer.Typer(
    help="Offers: a placement and its actions from YAML, their lifecycle, list and get.",
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


def _live(offer: pb.Offer) -> str:
    """The live version and its state, or `-` when none is."""
    return f"{offer.published_version} {offer.published_state}" if offer.published_version else "-"


@offer_app.command("list")
def list_offers(ctx: typer.Context, output: OutputOption = Output.table) -> None:
    """The offers (actions) by id: lifecycle state, live version, channel, value (`offer get`
    shows the rest)."""
    target: Target = ctx.obj
    found, _ = target.listing(
        Stub, lambda s: s.ListOffers, pb.ListOffersRequest(), lambda p: p.offers
    )
    if output is Output.json:
        print_json(pb.ListOffersResponse(offers=found))
        return
    print_table(
        "offers",
        ("offer", "state", "live", "channel", "value"),
        ((o.action_id, o.state, _live(o), o.channel or "any", f"{o.value:g}") for o in found),
    )


@offer_app.command("get")
def get_offer(
    ctx: typer.Context,
    action_id: Annotated[str, typer.Argument(help="The offer's (action's) id.")],
    output: OutputOption = Output.table,
) -> None:
    """One offer: its lifecycle and its latest version's definition."""
    target: Target = ctx.obj
    offer = target.call(Stub, lambda s: s.GetOffer, pb.GetOfferRequest(action_id=action_id)).offer
    if output is Output.json:
        print_json(pb.GetOfferResponse(offer=offer))
        return
    rows = [
        ("state", offer.state),
        ("latest version", offer.latest_version),
        ("live", _live(offer)),
        ("placements", ",".join(offer.placements) or "all"),
        ("channel", offer.channel or "any"),
        ("value", f"{offer.value:g}"),
        ("eligibility", offer.eligibility or "everyone"),
        ("caps", f"total {offer.max_total or '-'}, per profile {offer.max_per_profile or '-'}"),
        *((f"attribute {k}", v) for k, v in sorted(offer.attributes.items())),
        *((f"weight {w.weight:g} when", w.when) for w in offer.context_weights),
        ("owner", offer.owner),
        ("tags", " ".join(offer.tags)),
    ]
    print_table(f"offer {offer.action_id}", ("field", "value"), rows)


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
