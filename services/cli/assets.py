"""The commands every controlled asset kind of the orchestrator shares (`journey ...`,
`template ...`): apply a file, each lifecycle action, get, list and diff.

The RPCs of a kind are named after it (`ApplyJourney`, `SubmitTemplate`), so one set of
commands serves both; `register` checks at import that each RPC exists. (No postponed
annotations here: typer reads the commands' annotations, which name the kind.)
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from google.protobuf import json_format
from rich.markup import escape
from rich.table import Table

from layercake.gateway.v1 import asset_pb2
from layercake.gateway.v1 import journeys_service_pb2 as pb
from layercake.gateway.v1 import journeys_service_pb2_grpc as pb_grpc
from services.cli.lifecycle import (
    ACTIONS,
    Lifecycle,
    ReasonOption,
    add_lifecycle,
    id_field,
    version_line,
)
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

SERVICE = pb.DESCRIPTOR.services_by_name["JourneysService"]


class Kind:
    """A kind's RPCs on the JourneysService stub and its request types, by name."""

    def __init__(self, name: str) -> None:
        self.name = name  # journey
        self.title = name.capitalize()  # Journey
        self.id_field = f"{name}_id"
        for rpc in ("Apply", *(a.capitalize() for a in ACTIONS), "Rollback", "Get"):
            self.rpc(f"{rpc}{self.title}")
        self.rpc(f"List{self.title}s")
        self.rpc(f"Diff{self.title}Versions")

    def rpc(self, name: str) -> tuple[Any, type[Any]]:
        """(picker of the stub method, request type); AttributeError for a name not served."""
        if SERVICE.methods_by_name.get(name) is None:
            raise AttributeError(f"JourneysService has no {name}")
        pick: Callable[[Any], Any] = lambda s: getattr(s, name)  # noqa: E731
        return pick, getattr(pb, f"{name}Request")

    def call(self, target: Target, rpc: str, **fields: Any) -> Any:
        pick, request_type = self.rpc(rpc)
        return target.call(pb_grpc.JourneysServiceStub, pick, request_type(**fields))


def read_definition(path: Path) -> dict[str, Any]:
    """The Apply request's source from a file: YAML as it is (metadata among its keys), or
    protobuf JSON with an optional top-level `metadata` object."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        fail(f"{path}: {e.strerror or e}", 2)
    if path.suffix in {".yaml", ".yml"}:
        return {"yaml": text}
    try:
        document = json.loads(text)
    except ValueError as e:
        fail(f"{path}: not JSON ({e}); name a YAML file .yaml", 2)
    if not isinstance(document, dict):
        fail(f"{path}: a definition is a JSON object", 2)
    metadata = asset_pb2.AssetMetadata()
    try:
        json_format.ParseDict(document.pop("metadata", {}), metadata)
    except json_format.ParseError as e:
        fail(f"{path}: metadata: {e}", 2)
    return {"json": json.dumps(document), "metadata": metadata}


def register(app: typer.Typer, kind: Kind) -> None:
    """Adds apply, the lifecycle actions, rollback, get, list and diff to `app`."""

    @app.command("apply")
    def apply(
        ctx: typer.Context,
        path: Annotated[Path, typer.Argument(help="The definition: YAML, or protobuf JSON.")],
        reason: ReasonOption = "",
    ) -> None:
        """Create the draft, or save a new one, from a file (assets:write)."""
        source = read_definition(path)
        reply = kind.call(
            ctx.obj, f"Apply{kind.title}", reason=reason, request_id=new_request_id(), **source
        )
        err.print(version_line(reply.version), markup=False)

    add_lifecycle(
        app,
        Lifecycle(
            kind.title,
            kind.id_field.upper(),
            f"The {kind.name}'s id.",
            lambda target, rpc, fields: kind.call(target, rpc, **fields),
            id_field(kind.id_field),
        ),
    )

    @app.command("get")
    def get(
        ctx: typer.Context,
        asset_id: Annotated[
            str, typer.Argument(metavar=kind.id_field.upper(), help=f"The {kind.name}'s id.")
        ],
        version: Annotated[int, typer.Option(min=0, help="The version; 0 is the latest.")] = 0,
        output: OutputOption = Output.table,
    ) -> None:
        """Show one version and its definition (assets:read)."""
        reply = kind.call(ctx.obj, f"Get{kind.title}", version=version, **{kind.id_field: asset_id})
        if output is Output.json:
            print_json(reply)
            return
        out.print(version_table([reply.version], title=version_line(reply.version)))
        document = _whole_numbers(json_format.MessageToDict(reply.definition))
        out.print(escape(yaml.safe_dump(document, sort_keys=False, allow_unicode=True)))

    @app.command("list")
    def list_assets(ctx: typer.Context, output: OutputOption = Output.table) -> None:
        """The latest version of each, by id (assets:read)."""
        pick, request_type = kind.rpc(f"List{kind.title}s")
        target: Target = ctx.obj
        versions, _ = target.listing(
            pb_grpc.JourneysServiceStub, pick, request_type(), lambda page: page.versions
        )
        if output is Output.json:
            print_json(pb.ListJourneysResponse(versions=versions))
        else:
            out.print(version_table(versions))

    @app.command("diff")
    def diff(
        ctx: typer.Context,
        asset_id: Annotated[
            str, typer.Argument(metavar=kind.id_field.upper(), help=f"The {kind.name}'s id.")
        ],
        old: Annotated[int, typer.Argument(min=1, help="The older version.")],
        new: Annotated[int, typer.Argument(min=1, help="The newer version.")],
        output: OutputOption = Output.table,
    ) -> None:
        """The fields that differ between two versions (assets:read)."""
        reply = kind.call(
            ctx.obj,
            f"Diff{kind.title}Versions",
            old_version=old,
            new_version=new,
            **{kind.id_field: asset_id},
        )
        if output is Output.json:
            print_json(reply)
            return
        table = Table("field", "change", "old", "new", title_justify="left")
        for c in reply.changes:
            old_value = json_format.MessageToJson(c.old_value) if c.HasField("old_value") else ""
            new_value = json_format.MessageToJson(c.new_value) if c.HasField("new_value") else ""
            table.add_row(escape(c.path), c.kind, escape(old_value), escape(new_value))
        out.print(table if reply.changes else "no differences")


def version_table(versions: list[asset_pb2.AssetVersion], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("id", no_wrap=True)
    for name in ("version", "state", "owner", "authors", "updated"):
        table.add_column(name)
    for v in versions:
        table.add_row(
            escape(v.asset_id),
            str(v.version),
            v.state,
            escape(v.metadata.owner),
            escape(" ".join(v.authors)),
            v.update_time.ToJsonString() if v.HasField("update_time") else "",
        )
    return table


def _whole_numbers(value: Any) -> Any:
    """JSON numbers arrive as floats (a Struct's only number); `10.0` reads as `10`."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value
