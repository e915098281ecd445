"""`layercake facts set|get`: a tenant's stock levels, per store (FactsService)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from google.protobuf.timestamp_pb2 import Timestamp
from rich.markup import escape
from rich.table import Table

from layercake.gateway.v1 import facts_service_pb2 as pb
from layercake.gateway.v1 import facts_service_pb2_grpc as pb_grpc
from services.cli.target import (
    Output,
    OutputOption,
    Target,
    err,
    fail,
    new_request_id,
    out,
    print_json,
)

facts_app = typer.Typer(help="Business facts: stock levels per store.", no_args_is_help=True)

Store = Annotated[str, typer.Argument(help="The store's id, e.g. s-12.")]


def _levels(store: str, pairs: list[str], observed: datetime | None) -> list[pb.StockLevel]:
    levels = []
    for pair in pairs:
        product, sep, units = pair.rpartition("=")
        try:
            count = int(units)
        except ValueError:
            count = None
        if not sep or not product or count is None:
            fail(f"{pair!r}: write PRODUCT=UNITS, e.g. water=12", 2)
        level = pb.StockLevel(product=product, store=store, units=count)
        if observed is not None:
            level.observe_time.CopyFrom(_timestamp(observed))
        levels.append(level)
    return levels


def _timestamp(when: datetime) -> Timestamp:
    if when.tzinfo is None:
        fail("--observed needs a time zone, e.g. 2026-03-01T12:00:00+00:00", 2)
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


@facts_app.command("set")
def set_facts(
    ctx: typer.Context,
    store: Store,
    levels: Annotated[list[str], typer.Argument(help="PRODUCT=UNITS, e.g. water=0 soda=7.")],
    observed: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%dT%H:%M:%S%z"], help="When the levels were true (default: now)."
        ),
    ] = None,
) -> None:
    """Record stock levels at a store; a level older than the one held is ignored
    (facts:write)."""
    target: Target = ctx.obj
    request = pb.SetFactsRequest(
        stock_levels=_levels(store, levels, observed), request_id=new_request_id()
    )
    reply = target.call(pb_grpc.FactsServiceStub, lambda s: s.SetFacts, request)
    line = f"{reply.applied_count} of {len(request.stock_levels)} levels applied"
    if reply.back_in_stock_count:
        line += f"; {reply.back_in_stock_count} people back in stock"
    err.print(line, markup=False)


@facts_app.command("get")
def get_facts(
    ctx: typer.Context,
    store: Store,
    products: Annotated[list[str], typer.Argument(help="Product ids.")],
    output: OutputOption = Output.table,
) -> None:
    """Show the stock levels held at a store (assets:read)."""
    target: Target = ctx.obj
    request = pb.GetFactsRequest(stock_keys=[pb.StockKey(product=p, store=store) for p in products])
    reply = target.call(pb_grpc.FactsServiceStub, lambda s: s.GetFacts, request)
    if output is Output.json:
        print_json(reply, zeros=True)  # 0 units (out of stock) matters most
        return
    held = {level.product: level for level in reply.stock_levels}
    table = Table("product", "units", "observed", title=f"store {escape(store)}")
    table.title_justify = "left"
    for product in products:
        level = held.get(product)
        if level is None:
            table.add_row(escape(product), "unknown", "")
        else:
            table.add_row(escape(product), str(level.units), level.observe_time.ToJsonString())
    out.print(table)
