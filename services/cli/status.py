"""`layercake status`: whether the gateway answers (its `grpc.health.v1`, no key needed)
and, with a key, NATS and the services behind it (StatusService, scope `assets:read`)."""

from __future__ import annotations

import grpc
import typer
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.markup import escape
from rich.table import Table

from layercake.gateway.v1 import status_service_pb2 as pb
from layercake.gateway.v1 import status_service_pb2_grpc as pb_grpc
from services.cli.problems import problem
from services.cli.target import Output, OutputOption, Target, err, fail, out, print_json


def status(ctx: typer.Context, output: OutputOption = Output.table) -> None:
    """Health of the gateway and of what it forwards to; exits 1 when any part is down."""
    target: Target = ctx.obj
    with grpc.insecure_channel(target.gateway) as channel:
        try:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=target.timeout
            )
        except grpc.RpcError as e:
            fail(str(problem(e, target.gateway)))
    if health.status != health_pb2.HealthCheckResponse.SERVING:
        fail(f"the gateway at {target.gateway} answers but is not serving")
    if not target.api_key:
        components = [pb.ComponentStatus(name="gateway", serving=True, detail="answering")]
        err.print("set LAYERCAKE_API_KEY to see NATS and the services behind the gateway")
    else:
        components = list(
            target.call(
                pb_grpc.StatusServiceStub, lambda s: s.GetStatus, pb.GetStatusRequest()
            ).components
        )
    if output is Output.json:
        print_json(pb.GetStatusResponse(components=components), zeros=True)
    else:
        table = Table(
            "component", "serving", "detail", "latency", title=f"layercake at {target.gateway}"
        )
        table.title_justify = "left"
        for c in components:
            mark = "[green]yes[/green]" if c.serving else "[red]no[/red]"
            latency = f"{c.latency.ToMilliseconds()} ms" if c.HasField("latency") else ""
            table.add_row(escape(c.name), mark, escape(c.detail), latency)
        out.print(table)
    if not all(c.serving for c in components):
        raise typer.Exit(1)
