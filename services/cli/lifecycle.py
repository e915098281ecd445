"""The asset lifecycle as CLI commands (submit, approve, reject, publish, pause, resume,
archive, rollback), added to a command group by one call, for every kind of asset.

(No postponed annotations here: typer reads each command's annotations, built per group.)
"""

from collections.abc import Callable
from typing import Annotated

import typer

from layercake.common.v1 import asset_pb2
from services.cli.target import Target, out

# What the command says -> the lifecycle action, and what it does, for its help.
ACTIONS: dict[str, tuple[asset_pb2.AssetAction.ValueType, str]] = {
    "submit": (asset_pb2.ASSET_ACTION_SUBMIT, "Hand the draft in for review."),
    "approve": (asset_pb2.ASSET_ACTION_APPROVE, "Approve the submitted version."),
    "reject": (asset_pb2.ASSET_ACTION_REJECT, "Send the version under review back to draft."),
    "publish": (asset_pb2.ASSET_ACTION_PUBLISH, "Publish the approved version."),
    "pause": (asset_pb2.ASSET_ACTION_PAUSE, "Pause the live version."),
    "resume": (asset_pb2.ASSET_ACTION_RESUME, "Resume the paused version."),
    "archive": (asset_pb2.ASSET_ACTION_ARCHIVE, "Archive it for good."),
    "rollback": (asset_pb2.ASSET_ACTION_ROLLBACK, "Publish a copy of an earlier version."),
}

# Moves the asset named by the argument: (target, asset ref, action, reason, to_version).
Move = Callable[[Target, str, "asset_pb2.AssetAction.ValueType", str, int], str]


def add_lifecycle(app: typer.Typer, noun: str, ref_help: str, move: Move) -> None:
    """A command per action; each prints where the asset stands after it."""
    for name, (action, text) in ACTIONS.items():
        app.command(name, help=f"{text} ({noun})")(_command(action, ref_help, move))


def _command(
    action: asset_pb2.AssetAction.ValueType, ref_help: str, move: Move
) -> Callable[..., None]:
    def command(
        ctx: typer.Context,
        ref: Annotated[str, typer.Argument(help=ref_help)],
        reason: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
        to_version: Annotated[int, typer.Option(min=0, help="A rollback's earlier version.")] = 0,
    ) -> None:
        out.print(move(ctx.obj, ref, action, reason, to_version), markup=False, highlight=False)

    return command
