"""`layercake journey ...`: journeys through the gateway's JourneysService. Beside the
commands every asset kind has (`services.cli.assets`): stats, migrate and enter."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from layercake.gateway.v1 import journeys_service_pb2 as pb
from layercake.gateway.v1 import journeys_service_pb2_grpc as pb_grpc
from services.cli.assets import Kind, register
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

journey_app = typer.Typer(help="Journeys: apply, review, publish, run.", no_args_is_help=True)
register(journey_app, Kind("journey"))

JourneyId = Annotated[str, typer.Argument(metavar="JOURNEY_ID", help="The journey's id.")]


@journey_app.command("stats")
def stats(ctx: typer.Context, journey_id: JourneyId, output: OutputOption = Output.table) -> None:
    """Counts per version and step: entered, waiting, sent, suppressed... (assets:read)."""
    target: Target = ctx.obj
    reply = target.call(
        pb_grpc.JourneysServiceStub,
        lambda s: s.GetJourneyStats,
        pb.GetJourneyStatsRequest(journey_id=journey_id),
    )
    if output is Output.json:
        print_json(reply)
        return
    table = Table("version", "step", "metric", "count", title=f"journey {escape(journey_id)}")
    table.title_justify = "left"
    for c in reply.counts:
        table.add_row(
            str(c.journey_version), escape(c.step_id or "(all)"), escape(c.metric), str(c.count)
        )
    out.print(table if reply.counts else f"journey {escape(journey_id)}: no runs yet")


def _step_map(pairs: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            fail(f"--map {pair!r}: write OLD_STEP=NEW_STEP", 2)
        found[old] = new
    return found


@journey_app.command("migrate")
def migrate(
    ctx: typer.Context,
    journey_id: JourneyId,
    from_version: Annotated[int, typer.Option("--from", min=1, help="Version whose runs move.")],
    to_version: Annotated[int, typer.Option("--to", min=1, help="The live version.")],
    step_map: Annotated[
        list[str], typer.Option("--map", help="OLD_STEP=NEW_STEP (repeat); other runs stay.")
    ] = [],  # noqa: B006 (typer reads the default, never mutates it)
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, move nothing.")] = False,
    output: OutputOption = Output.table,
) -> None:
    """Move in-flight runs of an older version to the live one (assets:operate)."""
    target: Target = ctx.obj
    request = pb.MigrateJourneyRunsRequest(
        journey_id=journey_id,
        from_version=from_version,
        to_version=to_version,
        step_map=_step_map(step_map),
        dry_run=dry_run,
        request_id=new_request_id(),
    )
    reply = target.call(pb_grpc.JourneysServiceStub, lambda s: s.MigrateJourneyRuns, request)
    if output is Output.json:
        print_json(reply)
        return
    title = "would move (dry run)" if reply.dry_run else "moved"
    table = Table("from step", "to step", "runs", title=title, title_justify="left")
    for m in reply.moves:
        table.add_row(escape(m.from_step_id), escape(m.to_step_id or "(stays)"), str(m.count))
    out.print(table if reply.moves else f"{title}: no runs")


@journey_app.command("enter")
def enter(
    ctx: typer.Context,
    journey_id: JourneyId,
    profile_ref: Annotated[str, typer.Argument(help="<type>:<value> or a profile id.")],
) -> None:
    """Enter a profile into a live journey entered by `api` (ingest)."""
    target: Target = ctx.obj
    request = pb.EnterJourneyRequest(
        journey_id=journey_id, profile_ref=profile_ref, request_id=new_request_id()
    )
    reply = target.call(pb_grpc.JourneysServiceStub, lambda s: s.EnterJourney, request)
    if not reply.entered:
        fail(f"{profile_ref} did not enter {journey_id}: {reply.refusal}")
    err.print(
        f"{reply.profile_id} entered {journey_id} version {reply.journey_version}", markup=False
    )
