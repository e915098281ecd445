"""`layercake plan apply FILE|get`: the tenant's tracking plan (ApplyTrackingPlan, scope
`admin`; GetTrackingPlan, scope `assets:read`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from google.protobuf import struct_pb2
from rich.markup import escape
from rich.table import Table

from layercake.gateway.v1 import gateway_service_pb2 as pb
from layercake.gateway.v1 import gateway_service_pb2_grpc as pb_grpc
from services.cli.principals import _dict
from services.cli.target import Output, OutputOption, Target, err, fail, new_request_id, out

plan_app = typer.Typer(help="The tenant's tracking plan.", no_args_is_help=True)


def read_plan(path: Path) -> struct_pb2.Struct:
    """A plan document from JSON or YAML (by its suffix)."""
    try:
        text = path.read_text()
        document = yaml.safe_load(text) if path.suffix in {".yaml", ".yml"} else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as e:
        fail(f"{path}: {e}", 2)
    if not isinstance(document, dict):
        fail(f"{path}: a plan is an object with events and unplanned", 2)
    plan = struct_pb2.Struct()
    plan.update(document)
    return plan


@plan_app.command("apply")
def apply_plan(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The plan, JSON or YAML.")],
) -> None:
    """Replace the tenant's tracking plan (the plan in force applied again changes nothing)."""
    target: Target = ctx.obj
    request = pb.ApplyTrackingPlanRequest(plan=read_plan(path), request_id=new_request_id())
    reply = target.call(pb_grpc.GatewayServiceStub, lambda s: s.ApplyTrackingPlan, request)
    err.print(f"tracking plan version {reply.tracking_plan.version}", markup=False)


@plan_app.command("get")
def get_plan(ctx: typer.Context, output: OutputOption = Output.table) -> None:
    """Show the tracking plan and what it rejected and flagged, per event type."""
    target: Target = ctx.obj
    reply = target.call(
        pb_grpc.GatewayServiceStub, lambda s: s.GetTrackingPlan, pb.GetTrackingPlanRequest()
    )
    if output is Output.json:
        out.print_json(data=_dict(reply))
        return
    shown = _dict(reply)
    plan: dict[str, Any] = shown.get("tracking_plan", {})  # type: ignore[assignment]
    document: dict[str, Any] = plan.get("plan", {})
    events: dict[str, Any] = document.get("events", {})
    unplanned = document.get("unplanned", "allow")
    out.print(f"version {plan.get('version', 0)}, unplanned event types: {unplanned}", markup=False)
    counts = {c.event_type: c for c in reply.counts}
    table = Table("event type", "mode", "rejected", "flagged", title_justify="left")
    for name in sorted(set(events) | set(counts)):
        mode = events[name].get("mode", "reject") if name in events else "unplanned"
        count = counts.get(name)
        rejected, flagged = (count.rejected_count, count.flagged_count) if count else (0, 0)
        table.add_row(escape(name), escape(str(mode)), str(rejected), str(flagged))
    out.print(table)
