"""`layercake model ...`: register an ONNX model (streamed), propose a stage change, approve
and publish it, list the versions (the gateway's DecisionsService)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from layercake.gateway.v1 import decisions_service_pb2 as pb
from layercake.gateway.v1 import decisions_service_pb2_grpc as pb_grpc
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

model_app = typer.Typer(
    help="Models: register, promote, approve, publish, list.", no_args_is_help=True
)
Stub = pb_grpc.DecisionsServiceStub
CHUNK = 1024 * 1024
MAX_MODEL = 64 * 1024 * 1024
Name = Annotated[str, typer.Argument(help="The model's name.")]
Reason = Annotated[str, typer.Option(help="Why, recorded with the change.")]


class Stage(StrEnum):
    shadow = "shadow"
    challenger = "challenger"
    champion = "champion"
    retired = "retired"


def stage_name(value: pb.ModelStage.ValueType) -> str:
    return pb.ModelStage.Name(value).removeprefix("MODEL_STAGE_").lower()


def _split(values: list[str]) -> list[str]:
    return [s.strip() for v in values for s in v.split(",") if s.strip()]


def _upload(header: pb.ModelUpload, content: bytes) -> Iterator[pb.RegisterModelRequest]:
    yield pb.RegisterModelRequest(upload=header)
    for start in range(0, len(content), CHUNK):
        yield pb.RegisterModelRequest(chunk=content[start : start + CHUNK])


@model_app.command("register")
def register(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The ONNX file.")],
    name: Annotated[str, typer.Option("--name", help="Model name, e.g. propensity.")],
    features: Annotated[
        list[str],
        typer.Option("--features", help="Feature names in input-column order (comma-separate)."),
    ],
    version: Annotated[
        str, typer.Option(help="Version label; default: the file's sha256, 12 digits.")
    ] = "",
    owner: Annotated[str, typer.Option(help="Who is accountable for it.")] = "",
    description: Annotated[str, typer.Option(help="What it predicts.")] = "",
    output: OutputOption = Output.table,
) -> None:
    """Register a model version from FILE; nothing serves it until promoted and published."""
    target: Target = ctx.obj
    try:
        if file.stat().st_size > MAX_MODEL:
            fail(f"{file}: larger than {MAX_MODEL} bytes", 2)
        content = file.read_bytes()
    except OSError as e:
        fail(f"{file}: {e.strerror}", 2)
    digest = hashlib.sha256(content).hexdigest()
    header = pb.ModelUpload(
        request_id=new_request_id(),
        model_name=name,
        version=version or digest[:12],
        feature_names=_split(features),
        owner=owner,
        description=description,
        sha256=digest,
    )
    reply = target.call(Stub, lambda s: s.RegisterModel, _upload(header, content))
    if output is Output.json:
        print_json(reply)
        return
    m = reply.model
    out.print(
        f"model {m.model_name} version {m.version} registered ({m.size_bytes} bytes,"
        f" sha256 {m.sha256[:12]}); promote it to serve",
        markup=False,
        highlight=False,
    )


def change_line(change: pb.ModelChange) -> str:
    d = change.deployment
    serving = f"champion {d.champion_version or '-'}"
    if d.challenger_version:
        serving += f", challenger {d.challenger_version} ({d.challenger_share:g})"
    if d.shadow_versions:
        serving += f", shadows {' '.join(d.shadow_versions)}"
    return f"model {change.model_name} change {change.change_version}: {change.state} ({serving})"


@model_app.command("promote")
def promote(
    ctx: typer.Context,
    name: Name,
    version: Annotated[str, typer.Argument(help="The registered version.")],
    stage: Annotated[Stage, typer.Option(help="Its new stage.")] = Stage.champion,
    share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="A challenger's share of profiles.")
    ] = 0.0,
    reason: Reason = "",
) -> None:
    """Propose a stage change of VERSION and submit it for approval."""
    target: Target = ctx.obj
    request = pb.PromoteModelRequest(
        request_id=new_request_id(),
        model_name=name,
        version=version,
        stage=pb.ModelStage.Value(f"MODEL_STAGE_{stage.name.upper()}"),
        challenger_share=share,
        reason=reason,
    )
    reply = target.call(Stub, lambda s: s.PromoteModel, request)
    out.print(change_line(reply.change), markup=False, highlight=False)


@model_app.command("approve")
def approve(ctx: typer.Context, name: Name, reason: Reason = "") -> None:
    """Approve the model's proposed change (another person than the proposer)."""
    target: Target = ctx.obj
    request = pb.ApproveModelChangeRequest(
        request_id=new_request_id(), model_name=name, reason=reason
    )
    reply = target.call(Stub, lambda s: s.ApproveModelChange, request)
    out.print(change_line(reply.change), markup=False, highlight=False)


@model_app.command("publish")
def publish(ctx: typer.Context, name: Name, reason: Reason = "") -> None:
    """Publish the model's approved change: it serves from then on."""
    target: Target = ctx.obj
    request = pb.PublishModelChangeRequest(
        request_id=new_request_id(), model_name=name, reason=reason
    )
    reply = target.call(Stub, lambda s: s.PublishModelChange, request)
    out.print(change_line(reply.change), markup=False, highlight=False)


@model_app.command("list")
def list_models(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="Only this model's versions.")] = "",
    output: OutputOption = Output.table,
) -> None:
    """The registered model versions and the stage each serves in."""
    target: Target = ctx.obj
    found, _ = target.listing(
        Stub, lambda s: s.ListModels, pb.ListModelsRequest(model_name=name), lambda p: p.models
    )
    if output is Output.json:
        print_json(pb.ListModelsResponse(models=found))
        return
    print_table(
        "models",
        ("model", "version", "stage", "features", "sha256", "owner"),
        (
            (
                m.model_name,
                m.version,
                stage_name(m.stage),
                ",".join(m.feature_names),
                m.sha256[:12],
                m.owner,
            )
            for m in found
        ),
    )
