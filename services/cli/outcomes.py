"""`layercake outcome DECISION ACTION OUTCOME`: what a person did with a decided action (the
gateway's DecisionsService), so models and caps learn from it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import typer

from layercake.gateway.v1 import decisions_service_pb2 as pb
from layercake.gateway.v1 import decisions_service_pb2_grpc as pb_grpc
from services.cli.target import Output, OutputOption, Target, fail, new_request_id, out, print_json


class Outcome(StrEnum):
    impression = "impression"
    clicked = "clicked"
    converted = "converted"
    dismissed = "dismissed"


def outcome(
    ctx: typer.Context,
    decision_id: Annotated[str, typer.Argument(help="The decision's id (`decide` prints it).")],
    action_id: Annotated[str, typer.Argument(help="The decided action it concerns.")],
    happened: Annotated[Outcome, typer.Argument(metavar="OUTCOME", help="What the person did.")],
    at: Annotated[
        str,
        typer.Option(
            "--at", help="When it happened (ISO 8601 with a zone, e.g. 2026-03-01T12:00:00Z)."
        ),
    ] = "",
    output: OutputOption = Output.table,
) -> None:
    """Record what a person did with a decided action (clicked, converted, dismissed...)."""
    target: Target = ctx.obj
    request = pb.RecordOutcomeRequest(
        request_id=new_request_id(),
        decision_id=decision_id,
        action_id=action_id,
        outcome=pb.Outcome.Value(f"OUTCOME_{happened.name.upper()}"),
    )
    if at:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            fail(f"--at is not an ISO 8601 time: {at!r}", 2)
        if when.tzinfo is None:
            fail("--at needs a time zone, e.g. 2026-03-01T12:00:00Z", 2)
        request.outcome_time.FromDatetime(when)
    reply = target.call(pb_grpc.DecisionsServiceStub, lambda s: s.RecordOutcome, request)
    if output is Output.json:
        print_json(reply, zeros=True)
        return
    said = (
        f"recorded {happened} for {action_id} of decision {decision_id}"
        if reply.recorded
        else f"nothing new: {action_id} of decision {decision_id} already had {happened} "
        "or a heavier outcome"
    )
    out.print(said, markup=False, highlight=False)
