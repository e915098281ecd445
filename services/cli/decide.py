"""`layercake decide REF --placement P`: the next best actions for a person, with reasons
(the gateway's DecisionsService)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from google.protobuf import struct_pb2

from layercake.gateway.v1 import decisions_service_pb2 as pb
from layercake.gateway.v1 import decisions_service_pb2_grpc as pb_grpc
from services.cli.models import stage_name
from services.cli.target import (
    Output,
    OutputOption,
    Target,
    fail,
    new_request_id,
    out,
    print_json,
    print_table,
)


def decide(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(help="<type>:<value> (e.g. email:ann@example.com) or a profile id.")
    ],
    placement: Annotated[str, typer.Option("--placement", "-p", help="Where it will show.")],
    context: Annotated[
        str, typer.Option(help='The request\'s context as JSON, e.g. {"channel": "web"}.')
    ] = "{}",
    max_actions: Annotated[
        int, typer.Option(min=0, help="Actions to return; 0 for the placement's default.")
    ] = 0,
    output: OutputOption = Output.table,
) -> None:
    """Decide the next best actions for a person at a placement."""
    target: Target = ctx.obj
    try:
        document = json.loads(context)
    except ValueError as e:
        fail(f"--context is not JSON: {e}", 2)
    if not isinstance(document, dict):
        fail("--context must be a JSON object", 2)
    request = pb.DecideRequest(
        request_id=new_request_id(),
        profile_ref=ref,
        placement=placement,
        max_actions=max_actions,
    )
    request.context.CopyFrom(struct_pb2.Struct())
    request.context.update(document)
    reply = target.call(pb_grpc.DecisionsServiceStub, lambda s: s.Decide, request)
    if output is Output.json:
        print_json(reply)
        return
    model = (
        f"model {reply.model_name} {reply.model_version} ({stage_name(reply.model_stage)})"
        if reply.model_name and not reply.fallback
        else "no model: ranked by value"
    )
    out.print(
        f"decision {reply.decision_id} for profile {reply.profile_id}; {model}",
        markup=False,
        highlight=False,
    )
    print_table(
        placement,
        ("rank", "action", "score", "propensity", "value", "why"),
        (
            (
                a.rank,
                a.action_id,
                f"{a.score:.4f}",
                f"{a.propensity:.4f}",
                f"{a.value:g}",
                "; ".join(a.reasons),
            )
            for a in reply.actions
        ),
    )
    for excluded in reply.excluded:
        out.print(
            f"left out {excluded.action_id}: {'; '.join(excluded.reasons)}",
            markup=False,
            highlight=False,
        )
