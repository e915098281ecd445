"""The asset lifecycle as CLI commands, the same for every kind (`journey`, `template`,
`audience`, `offer`): submit, approve, reject, publish, pause, resume, archive and
rollback, each calling the gateway RPC of its own (`SubmitJourney`, `ApproveAudience`,
`PublishCatalogAsset`), and printing where the asset stands after it.

(No postponed annotations here: typer reads each command's annotations, built per kind.)
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from layercake.gateway.v1 import asset_pb2
from services.cli.target import Target, err, new_request_id

ReasonOption = Annotated[str, typer.Option(help="Why, for the audit trail.")]
ACTIONS = ("submit", "approve", "reject", "publish", "pause", "resume", "archive")
HELP = {
    "submit": "Hand the draft in for review (assets:write).",
    "approve": "Approve the submitted version; not by one of its authors (assets:approve).",
    "reject": "Send the submitted or approved version back to draft (assets:approve).",
    "publish": "Publish the approved version (assets:operate).",
    "pause": "Pause the live version (assets:operate).",
    "resume": "Resume the paused version (assets:operate).",
    "archive": "Archive for good (assets:operate).",
}


def version_line(v: asset_pb2.AssetVersion) -> str:
    line = f"{v.kind} {v.asset_id} version {v.version}: {v.state}"
    return line + (f" (a copy of version {v.source_version})" if v.source_version else "")


@dataclass(frozen=True)
class Lifecycle:
    """How one kind's lifecycle RPCs are called."""

    noun: str  # the RPCs are `<Action><noun>`: `Journey`, `Audience`, `CatalogAsset`
    metavar: str  # the argument naming the asset, e.g. `JOURNEY_ID`
    ref_help: str
    call: Callable[[Target, str, dict[str, Any]], Any]  # (target, RPC name, request fields)
    ids: Callable[[str], dict[str, str]]  # the argument -> the request's id fields

    def move(self, target: Target, action: str, ref: str, **fields: Any) -> None:
        rpc = f"{action.capitalize()}{self.noun}"
        fields.update(self.ids(ref), request_id=new_request_id())
        err.print(version_line(self.call(target, rpc, fields).version), markup=False)


def id_field(name: str) -> Callable[[str], dict[str, str]]:
    """The argument as the one id field `name` (`journey_id`)."""
    return lambda ref: {name: ref}


def add_lifecycle(app: typer.Typer, kind: Lifecycle) -> None:
    """A command per action on `app`, and rollback (which names the version it copies)."""
    for action in ACTIONS:
        app.command(action, help=HELP[action])(_command(kind, action))

    @app.command("rollback")
    def rollback(
        ctx: typer.Context,
        ref: Annotated[str, typer.Argument(metavar=kind.metavar, help=kind.ref_help)],
        to_version: Annotated[
            int, typer.Option("--to-version", min=1, help="The earlier published version.")
        ],
        reason: ReasonOption = "",
    ) -> None:
        """Publish a copy of an earlier published version as a new version (assets:operate)."""
        kind.move(ctx.obj, "rollback", ref, to_version=to_version, reason=reason)


def _command(kind: Lifecycle, action: str) -> Callable[..., None]:
    def command(
        ctx: typer.Context,
        ref: Annotated[str, typer.Argument(metavar=kind.metavar, help=kind.ref_help)],
        reason: ReasonOption = "",
    ) -> None:
        kind.move(ctx.obj, action, ref, reason=reason)

    return command


def calls_by_name(stub: type[Any], messages: Any) -> Callable[[Target, str, dict[str, Any]], Any]:
    """Calls the RPC named on `stub`, its request `<name>Request` of the `messages` module."""

    def call(target: Target, rpc: str, fields: dict[str, Any]) -> Any:
        request = getattr(messages, f"{rpc}Request")(**fields)
        return target.call(stub, lambda s: getattr(s, rpc), request)

    return call
